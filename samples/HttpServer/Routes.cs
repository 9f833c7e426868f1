using System.Text.Json;
using System.Text.Json.Serialization;
using Kevents.Http;

namespace HttpServerSample;

/// <summary>
/// The sample's three routes. /plaintext and /json follow the TechEmpower rules: the body is composed for each request
/// (the JSON through System.Text.Json, from a new message value each time), with Server and Date headers (the layer
/// adds them). Public so tests can serve the same routes in-process.
/// </summary>
public static class Routes
{
    // One JSON writer per loop thread, pointed at each response in turn: serializing allocates nothing.
    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    /// <summary>The handler: synchronous, so each request costs no task.</summary>
    public static ValueTask Handle(HttpRequest request, HttpResponse response)
    {
        ReadOnlySpan<byte> path = request.PathBytes;
        bool get = request.Method is "GET" or "HEAD";
        if (path.SequenceEqual("/plaintext"u8) && get)
        {
            response.AddHeader("Content-Type"u8, "text/plain"u8);
            response.Write("Hello, World!"u8);
        }
        else if (path.SequenceEqual("/json"u8) && get)
        {
            response.AddHeader("Content-Type"u8, "application/json"u8);
            Utf8JsonWriter json = t_json ??= new Utf8JsonWriter(response, new JsonWriterOptions { SkipValidation = true });
            json.Reset(response);
            JsonSerializer.Serialize(json, new JsonMessage("Hello, World!"), SampleJsonContext.Default.JsonMessage);
            json.Flush();
            json.Reset(Stream.Null); // let go of the response
        }
        else if (path.SequenceEqual("/"u8) && get)
        {
            response.AddHeader("Content-Type"u8, "text/html; charset=utf-8"u8);
            response.Write("<!doctype html><title>Kevents HttpServer</title><h1>Kevents HttpServer</h1>"u8);
            response.Write("<p>Try <a href=\"/plaintext\">/plaintext</a> and <a href=\"/json\">/json</a>.</p>\n"u8);
        }
        else if (path.SequenceEqual("/plaintext"u8) || path.SequenceEqual("/json"u8) || path.SequenceEqual("/"u8))
        {
            response.StatusCode = 405;
            response.AddHeader("Allow"u8, "GET, HEAD"u8);
        }
        else
        {
            response.StatusCode = 404;
            response.AddHeader("Content-Type"u8, "text/plain"u8);
            response.Write("Not Found\n"u8);
        }
        return default;
    }
}

/// <summary>The /json body: a value type, so composing one per request costs no allocation.</summary>
public readonly record struct JsonMessage([property: JsonPropertyName("message")] string Message);

/// <summary>Source-generated serialization: no reflection, and nothing built per request.</summary>
[JsonSerializable(typeof(JsonMessage))]
internal sealed partial class SampleJsonContext : JsonSerializerContext;
