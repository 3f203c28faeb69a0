import ArgumentParser
import Engram
import EngramService
import Foundation

struct Working: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Short-lived key/value working memory with a TTL, beside the long-term store.",
        subcommands: [Set.self, Get.self, ListEntries.self, Delete.self, Promote.self])

    struct Scope: ParsableArguments {
        @Option(name: .long, help: "Namespace of the entry (default: default).")
        var namespace = "default"
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set KEY to VALUE (JSON, or else a string) for --ttl.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String
        @Argument var value: String
        @Option(help: "How long the entry lives: 90s, 30m, 12h, 7d.")
        var ttl = "1h"

        func run() async throws {
            let store = try location.open()
            defer { try? store.close() }
            let request = WorkingSetRequest(
                namespace: scope.namespace, key: key, value: .literal(value),
                ttl: try TimeParsing.ttl(ttl, field: "--ttl"))
            try await withService(store) { service, scope in
                try await service.workingSet(request, scope: scope)
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the value of KEY (exit 66 when missing or expired).")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @OptionGroup var output: OutputFormat
        @Argument var key: String

        func run() async throws {
            let store = try location.open()
            defer { try? store.close() }
            let (key, namespace) = (key, scope.namespace)
            let entry = try await missingEntry(key, namespace) {
                try await withService(store) { service, scope in
                    try await service.workingGet(namespace: namespace, key: key, scope: scope)
                }
            }
            if output.json {
                CLIIO.current.print(JSONOutput.pretty(ResultJSON.entry(entry)))
            } else {
                CLIIO.current.print(entry.value.stringValue ?? entry.value.jsonText)
            }
        }
    }

    struct ListEntries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List unexpired entries.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @OptionGroup var output: OutputFormat

        func run() async throws {
            let store = try location.open()
            defer { try? store.close() }
            let namespace = scope.namespace
            let entries = try await withService(store) { service, scope in
                try await service.workingList(namespace: namespace, scope: scope)
            }
            if output.json {
                CLIIO.current.print(JSONOutput.pretty(.array(entries.map(ResultJSON.entry))))
            } else {
                for e in entries {
                    CLIIO.current.print(
                        "\(e.key)\t\(e.value.stringValue ?? e.value.jsonText)\t(expires \(TimeParsing.format(e.expiresAt)))"
                    )
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete KEY (exit 66 when it did not exist).")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String

        func run() async throws {
            let store = try location.open()
            defer { try? store.close() }
            let (key, namespace) = (key, scope.namespace)
            try await missingEntry(key, namespace) {
                try await withService(store) { service, scope in
                    try await service.workingDelete(namespace: namespace, key: key, scope: scope)
                }
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn KEY into a long-term memory (embedded with the store's embedder); prints its id.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String
        @Option(help: "Kind of the new memory.")
        var kind = "note"
        @Option(help: "A tag for the new memory (repeatable).")
        var tag: [String] = []

        func run() async throws {
            let store = try location.open()
            defer { try? store.close() }
            let request = PromoteRequest(
                namespace: scope.namespace, key: key, kind: MemoryKind(rawValue: kind), tags: tag)
            let id = try await withService(store) { service, scope in
                try await service.workingPromote(request, scope: scope)
            }
            CLIIO.current.print(id.description)
        }
    }
}

/// Runs `body`, naming the key and namespace when the entry is missing (the CLI's message).
private func missingEntry<T>(_ key: String, _ namespace: String, _ body: () async throws -> T) async throws
    -> T
{
    do {
        return try await body()
    } catch let error as EngramError where error.code == .notFound && error.field == "key" {
        throw EngramError(.notFound, "no working-memory entry '\(key)' in \(namespace)")
    }
}
