namespace Kevents;

/// <summary>
/// Receives a delivered kevent on the loop thread. The kevent is passed by reference to a loop-owned buffer:
/// copy it if it must outlive the call.
/// </summary>
public delegate void KeventHandler(in Kevent ev);
