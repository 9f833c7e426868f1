// The fd gate counts /proc/self/fd for the whole process, and load tests want the CPU to themselves:
// classes in this assembly must not run at once.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
