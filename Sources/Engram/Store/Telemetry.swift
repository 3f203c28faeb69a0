/// Recall counters since the store was opened: a ring of recent latencies for percentiles and a hit count.
struct Telemetry {
    static let window = 4096
    private(set) var recalls = 0
    private(set) var hits = 0
    private var latencies: [Double] = []  // milliseconds, the most recent `window` recalls
    private var next = 0

    mutating func recordRecall(_ elapsed: Duration, hit: Bool) {
        recalls += 1
        if hit { hits += 1 }
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        if latencies.count < Self.window {
            latencies.append(ms)
        } else {
            latencies[next] = ms
            next = (next + 1) % Self.window
        }
    }

    /// The q-quantile (0...1) of recent recall latencies, nearest-rank; nil before the first recall.
    func latencyQuantile(_ q: Double) -> Double? { Quantile.of(latencies, q) }
}
