import EngramFuzzTargets
import Foundation
import Testing

/// The fuzz targets' checked-in inputs — seeds, and every input a fuzzer once crashed on — replayed on
/// each test run, so a fixed finding stays fixed. (`make fuzz` runs the targets themselves.)
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    @Test("every target runs every seed and regression input without a crash", arguments: FuzzTargets.names)
    func replay(target: String) throws {
        var inputs = 0
        for folder in ["corpus", "regressions"] {
            let dir = Self.fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] {
                FuzzTargets.run(target, Array(try Data(contentsOf: dir.appendingPathComponent(name))))
                inputs += 1
            }
        }
        #expect(inputs > 0, "no inputs for \(target)")
    }
}
