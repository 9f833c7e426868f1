namespace Kevents.Internal;

/// <summary>The identity of a registration: (Ident, Filter), as in kqueue.</summary>
internal readonly record struct KeventKey(ulong Ident, KeventFilter Filter);
