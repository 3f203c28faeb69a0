import ArgumentParser
import Engram
import EngramService
import Foundation

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build, show or drop the approximate index that serves wide recalls over large stores.",
        discussion: """
            With an index, a recall whose filter admits many memories (more than 20,000 and more than 2% of \
            the store) reads the codes of the nearest lists and re-scores the best candidates exactly; \
            narrower recalls scan exactly as before. Writes keep the index current. \
            `engram recall --exact` always scans; `--explain` says which path ran.
            """,
        subcommands: [Build.self, Status.self, Drop.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the index over every memory (replacing one the store has) and write it to disk.")

        @OptionGroup var location: StoreLocation
        @OptionGroup var output: OutputFormat
        @Option(help: "Inverted lists (default: about 2 x the square root of the memory count).")
        var lists: Int?
        @Option(help: "Bits per dimension of the codes: 4 (a quarter of a byte each), or 8.")
        var bits = 4

        func run() throws {
            let store = try location.openWhole(for: "build the index of")
            defer { try? store.close() }
            let io = CLIIO.current
            let started = ContinuousClock.now
            var bar: (phase: String, progress: Progress)?
            let status = try store.buildIndex(lists: lists, bits: bits) { p in
                if bar?.phase != p.phase {
                    bar?.progress.finish()
                    if io.stderrIsTerminal { io.writeError("\(p.phase)\n") }
                    bar = (p.phase, Progress(total: p.total, enabled: io.stderrIsTerminal))
                }
                bar?.progress.update(p.done)
            }
            bar?.progress.finish()
            let seconds = (ContinuousClock.now - started).seconds
            if output.json {
                io.print(JSONOutput.pretty(ResultJSON.index(status, buildSeconds: seconds)))
            } else {
                io.print(Index.describe(status) + String(format: " (built in %.1f s)", seconds))
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what the index holds, or say there is none.")

        @OptionGroup var location: StoreLocation
        @OptionGroup var output: OutputFormat

        func run() throws {
            let store = try location.openWhole(for: "read the index of", readOnly: true)
            defer { try? store.close() }
            let status = try store.indexStatus()
            let io = CLIIO.current
            if output.json {
                io.print(JSONOutput.pretty(status.map { ResultJSON.index($0) } ?? .null))
            } else {
                io.print(
                    status.map(Index.describe)
                        ?? "no index (recalls scan exactly; build one with `engram index build`)")
            }
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the index; recalls scan exactly again.")

        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.openWhole(for: "drop the index of")
            defer { try? store.close() }
            try store.dropIndex()
        }
    }

    static func describe(_ s: IndexStatus) -> String {
        let ratio = s.vectorBytes > 0 ? Double(s.bytes) / Double(s.vectorBytes) : 0
        return
            "index: \(s.memories) memories in \(s.lists) lists (\(s.entries) entries, \(s.bits)-bit codes, "
            + "\(s.probes) read per recall), \(bytes(s.bytes)) (\(String(format: "%.2f", ratio))x the vectors' \(bytes(s.vectorBytes)))"
    }
}
