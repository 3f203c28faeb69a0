import Foundation

/// This process's memory use, for stats and benchmarks.
package enum ProcessMemory {
    /// Resident set size in bytes (Linux `VmRSS`), or nil where unknown.
    package static var residentBytes: Int? {
        #if os(Linux)
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
            else { return nil }
            return kb * 1024
        #else
            return nil
        #endif
    }
}
