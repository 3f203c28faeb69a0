package import Engram

/// What the service reports as it works, for a front end that exports metrics (`engram serve`'s
/// Prometheus registry); the service itself keeps no counters.
package protocol ServiceMetrics: Sendable {
    /// One scan answering `batch` recalls (a text recall is a batch of one).
    func recalled(batch: Int, seconds: Double, hits: [[RecallHit]])
    /// One embedding call of `count` texts.
    func embedded(count: Int, seconds: Double)
    /// A request refused before it ran (`queue_full`).
    func rejected(reason: String)
    /// Requests admitted and not yet answered.
    func queueDepth(_ depth: Int)
}

/// For front ends that export no metrics (`engram mcp` on stdio, the CLI).
package struct NoServiceMetrics: ServiceMetrics {
    package init() {}
    package func recalled(batch: Int, seconds: Double, hits: [[RecallHit]]) {}
    package func embedded(count: Int, seconds: Double) {}
    package func rejected(reason: String) {}
    package func queueDepth(_ depth: Int) {}
}
