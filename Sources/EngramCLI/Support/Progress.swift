import Foundation

/// A one-line progress bar with rate and ETA on standard error; silent when it is not a terminal.
final class Progress {
    let total: Int
    let enabled: Bool
    let started = Date()

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && total > 0
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let elapsed = max(Date().timeIntervalSince(started), 1e-3)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        CLIIO.current.writeError(
            String(format: "\r[%@] %d/%d  %.0f/s  ETA %.0fs ", bar, done, total, rate, eta))
    }

    func finish() {
        if enabled { CLIIO.current.writeError("\n") }
    }
}
