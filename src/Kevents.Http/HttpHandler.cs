namespace Kevents.Http;

/// <summary>
/// Answers one request on the loop thread: fill <paramref name="response"/> and return. A handler that finishes
/// synchronously returns <c>default</c> (no allocation); one that awaits returns its task, and the response is sent
/// when the task completes (continuations run on the loop). Requests on one connection are handled one at a time, in
/// order. An exception answers 500 if nothing was sent yet and closes the connection.
/// </summary>
public delegate ValueTask HttpHandler(HttpRequest request, HttpResponse response);
