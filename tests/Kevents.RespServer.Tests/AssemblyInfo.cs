// The fd gate counts /proc/self/fd for the whole process: classes in this assembly must not run at once.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
