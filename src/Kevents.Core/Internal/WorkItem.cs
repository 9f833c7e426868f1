namespace Kevents.Internal;

/// <summary>A posted callback and its state. Exactly one of the two delegate fields is set.</summary>
internal readonly struct WorkItem
{
    public readonly Action<object?>? Action;
    public readonly SendOrPostCallback? Callback;
    public readonly object? State;

    public WorkItem(Action<object?> action, object? state)
    {
        Action = action;
        State = state;
    }

    public WorkItem(SendOrPostCallback callback, object? state)
    {
        Callback = callback;
        State = state;
    }

    public void Invoke()
    {
        if (Action is not null)
        {
            Action(State);
        }
        else
        {
            Callback!(State);
        }
    }

    public string Describe()
    {
        Delegate? d = (Delegate?)Action ?? Callback;
        if (d is null)
        {
            return "(none)";
        }
        // A posted Action travels as the state of a static adapter; name the user's delegate, not the adapter.
        if (State is Delegate inner && d.Method.DeclaringType == typeof(EventLoop))
        {
            d = inner;
        }
        return $"{d.Method.DeclaringType?.Name}.{d.Method.Name}";
    }
}
