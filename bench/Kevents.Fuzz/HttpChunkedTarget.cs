using System.Reflection;
using Kevents.Http;

namespace Kevents.Fuzz;

/// <summary>
/// The chunked request-body decoder, Kevents.Http's <see cref="HttpChunkedDecoder"/>. The input is decoded twice:
/// whole into a roomy buffer, and one byte at a time into a 7-byte buffer (so output fills up mid-chunk too). Both
/// must give the same body bytes, the same end (done, error with its reason, or more needed) and stop at the same
/// input byte, since the answer may not depend on how the bytes were split.
/// </summary>
internal sealed class HttpChunkedTarget : IFuzzTarget
{
    private const int MaxPieceBytes = 4096;

    public string Name => "http-chunked";

    public IReadOnlyList<Assembly> Instrumented { get; } = [typeof(HttpChunkedDecoder).Assembly];

    public void Run(ReadOnlySpan<byte> input)
    {
        string whole = Decode(input, pieceSize: input.Length, outputSize: Math.Max(16, input.Length));
        if (input.Length <= MaxPieceBytes)
        {
            string pieces = Decode(input, pieceSize: 1, outputSize: 7);
            if (whole != pieces)
            {
                throw new FuzzInvariantException($"decoded whole: {whole} but byte by byte: {pieces}");
            }
        }
    }

    private static string Decode(ReadOnlySpan<byte> input, int pieceSize, int outputSize)
    {
        var decoder = new HttpChunkedDecoder();
        var body = new List<byte>();
        byte[] room = new byte[outputSize];
        int offset = 0;
        while (true)
        {
            int available = Math.Min(Math.Max(pieceSize, 1), input.Length - offset);
            HttpChunkedStatus status = decoder.Decode(input.Slice(offset, available), room, out int consumed, out int written);
            if (consumed < 0 || consumed > available || written < 0 || written > room.Length)
            {
                throw new FuzzInvariantException($"consumed {consumed} of {available}, wrote {written} into {room.Length}");
            }
            body.AddRange(room.AsSpan(0, written).ToArray());
            offset += consumed;
            switch (status)
            {
                case HttpChunkedStatus.Done:
                    if (decoder.DecodedBytes != body.Count)
                    {
                        throw new FuzzInvariantException($"DecodedBytes {decoder.DecodedBytes} but {body.Count} bytes written");
                    }
                    return $"done at {offset}, body {Convert.ToHexString(body.ToArray())}";
                case HttpChunkedStatus.Error:
                    if (decoder.ErrorReason.Length == 0)
                    {
                        throw new FuzzInvariantException("Error without a reason");
                    }
                    return $"error '{decoder.ErrorReason}', body {Convert.ToHexString(body.ToArray())}";
                default:
                    // More needed: with input left and room in the output, the decoder must have made progress.
                    if (offset >= input.Length)
                    {
                        return $"needs more after {offset}, body {Convert.ToHexString(body.ToArray())}";
                    }
                    if (consumed == 0 && written == 0)
                    {
                        throw new FuzzInvariantException($"no progress at input byte {offset} with room for {room.Length} bytes");
                    }
                    break;
            }
        }
    }
}
