import ArgumentParser
import Engram
import EngramService
import Foundation

struct Quarantine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep memories out of recall, lists and counts (until released); they stay stored.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "Ids of the memories to quarantine.")
    var ids: [String]

    func run() async throws {
        try await setQuarantined(ids, true, location: location, json: output.json)
    }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release quarantined memories back into recall.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "Ids of the memories to release.")
    var ids: [String]

    func run() async throws {
        try await setQuarantined(ids, false, location: location, json: output.json)
    }
}

private func setQuarantined(_ ids: [String], _ quarantined: Bool, location: StoreLocation, json: Bool)
    async throws
{
    let memoryIDs = try ids.map(memoryID)
    let store = try location.open()
    defer { try? store.close() }
    let changed = try await withService(store) { service, scope in
        try await service.setQuarantined(memoryIDs, quarantined, scope: scope)
    }
    let verb = quarantined ? "quarantined" : "released"
    CLIIO.current.print(
        json ? JSONOutput.pretty(.object([verb: .number(Double(changed))])) : "\(verb) \(changed)")
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check or read the store's hash-chained audit log of writes, forgets, purges and key use.",
        subcommands: [Verify.self, List.self, Tombstones.self])

    struct Tombstones: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what purges left: id, namespace, time, who and why (never content).")

        @OptionGroup var location: StoreLocation
        @OptionGroup var output: OutputFormat

        func run() async throws {
            let store = try location.open(readOnly: true)
            defer { try? store.close() }
            let tombstones = try await withService(store) { service, scope in
                try await service.tombstones(scope: scope)
            }
            let io = CLIIO.current
            if output.json {
                io.print(JSONOutput.pretty(.array(tombstones.map(ResultJSON.object))))
                return
            }
            for t in tombstones {
                io.print(
                    "\(t.id)  \(t.namespace)  \(TimeParsing.format(t.purgedAt))  \(t.actor ?? "-")  \(t.reason)"
                )
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every entry's hash chain; exits non-zero naming the first entry that fails.",
            discussion: """
                Prints the newest entry's hash: record it elsewhere, and a log rewritten from its start by \
                someone who can write the database is caught by comparing.
                """)

        @OptionGroup var location: StoreLocation
        @OptionGroup var output: OutputFormat

        func run() async throws {
            let store = try location.open(readOnly: true)
            defer { try? store.close() }
            let result = try await withService(store) { service, scope in
                try await service.verifyAudit(scope: scope)
            }
            let io = CLIIO.current
            if output.json {
                io.print(JSONOutput.pretty(ResultJSON.object(result)))
            } else if result.isIntact {
                io.print("intact: \(result.entries) entries, head \(result.head ?? "-")")
            }
            if let bad = result.firstBad {
                throw CommandFailure(
                    status: ExitStatus.failure,
                    message: "audit log broken at entry \(bad): \(result.problem ?? "")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit entries, oldest first.")

        @OptionGroup var location: StoreLocation
        @OptionGroup var output: OutputFormat

        @Option(help: "From this time on: ISO 8601 or an age (7d).")
        var since: String?

        @Option(help: "At most this many entries.")
        var limit = 1000

        func run() async throws {
            let since = try since.map { try TimeParsing.date($0, field: "--since", now: Date()) }
            let store = try location.open(readOnly: true)
            defer { try? store.close() }
            let entries = try await withService(store) { service, scope in
                try await service.auditEntries(since: since, after: 0, limit: limit, scope: scope)
            }
            let io = CLIIO.current
            if output.json {
                io.print(JSONOutput.pretty(.array(entries.map(ResultJSON.object))))
                return
            }
            for e in entries {
                io.print(
                    "\(e.seq)  \(TimeParsing.format(e.at))  \(e.actor ?? "-")  \(e.action)  \(e.ids.count) ids  \(e.detail)"
                )
            }
        }
    }
}
