using System.Buffers;
using System.IO.Pipelines;

namespace Kevents.Tests;

public class AsyncTests : LoopTest
{
    [Fact]
    public void AwaitInsideHandlerResumesOnLoopThreadInOrder()
    {
        EventLoop loop = NewLoop();
        int loopThread = 0;
        var order = new List<int>();
        var wrongThread = new List<int>();
        var steps = new List<Task>();
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent ev) =>
        {
            loopThread = Environment.CurrentManagedThreadId;
            for (int i = 0; i < 5; i++)
            {
                steps.Add(Step(i));
            }
        });

        async Task Step(int i)
        {
            // Continuations posted from the loop thread run in the order they were posted.
            await Task.Yield();
            order.Add(i);
            // A continuation that completes on a timer thread still comes back to the loop thread.
            await Task.Delay(5 + i);
            if (Environment.CurrentManagedThreadId != loopThread)
            {
                wrongThread.Add(i);
            }
            if (steps.Count(t => t.IsCompleted) == 4)
            {
                loop.Stop();
            }
        }

        RunWithLimit(loop);
        Assert.Empty(wrongThread);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, order);
    }

    [Fact]
    public void SynchronizationContextIsInstalledOnlyWhileRunning()
    {
        EventLoop loop = NewLoop();
        SynchronizationContext? inside = null;
        loop.Post(() =>
        {
            inside = SynchronizationContext.Current;
            loop.Stop();
        });
        SynchronizationContext? before = SynchronizationContext.Current;
        RunWithLimit(loop);
        Assert.Same(loop.SynchronizationContext, inside);
        Assert.Same(before, SynchronizationContext.Current);
    }

    [Fact]
    public void PipeCallbacksRunOnTheLoopThroughItsScheduler()
    {
        EventLoop loop = NewLoop();
        var pipe = new Pipe(new PipeOptions(readerScheduler: loop.PipeScheduler, writerScheduler: loop.PipeScheduler, useSynchronizationContext: false));
        int loopThread = 0, readerThread = -1;
        string? text = null;
        loop.Post(async () =>
        {
            loopThread = Environment.CurrentManagedThreadId;
            ReadResult result = await pipe.Reader.ReadAsync();
            readerThread = Environment.CurrentManagedThreadId;
            text = System.Text.Encoding.ASCII.GetString(result.Buffer.ToArray());
            pipe.Reader.AdvanceTo(result.Buffer.End);
            loop.Stop();
        });
        var writer = new Thread(() =>
        {
            Thread.Sleep(20);
            "hi"u8.CopyTo(pipe.Writer.GetSpan(2));
            pipe.Writer.Advance(2);
            pipe.Writer.FlushAsync().AsTask().Wait();
        });
        writer.Start();
        RunWithLimit(loop);
        writer.Join();
        Assert.Equal("hi", text);
        Assert.Equal(loopThread, readerThread);
    }
}
