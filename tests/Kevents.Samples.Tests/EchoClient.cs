using System.Net.Sockets;
using System.Text;

namespace Kevents.Samples.Tests;

/// <summary>The client side of an echo round trip against an echo sample.</summary>
internal static class EchoClient
{
    /// <summary>Sends <paramref name="text"/> and asserts that exactly its bytes come back (each read bounded at 10 s).</summary>
    public static async Task EchoOnceAsync(Socket client, string text)
    {
        byte[] message = Encoding.ASCII.GetBytes(text);
        await client.SendAsync(message);
        byte[] back = new byte[message.Length];
        int got = 0;
        while (got < back.Length)
        {
            int n = await client.ReceiveAsync(back.AsMemory(got)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(n > 0, "the server closed before echoing");
            got += n;
        }
        Assert.Equal(message, back);
    }
}
