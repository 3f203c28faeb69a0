import ArgumentParser
import Engram
import EngramCluster
import EngramService
import Foundation

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a cluster in PostgreSQL, or show its nodes, shards and lag.",
        discussion: """
            A cluster keeps every memory in one PostgreSQL database; each node (`engram serve --cluster URL \
            --node NAME --store DIR`) holds a replica of the namespaces its shards cover and answers \
            recalls over them. URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
            """,
        subcommands: [InitCluster.self, Status.self, Shard.self])

    struct Shard: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set which nodes hold a namespace prefix (a shard), or remove the shard.",
            discussion: """
                A namespace belongs to the longest prefix that holds it (`acme` holds `acme` and `acme/...`; \
                the empty prefix "" holds the rest). The nodes that gain the shard copy it from PostgreSQL \
                and the others drop it; no data passes between nodes.
                """)

        @Argument(help: "The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
        var url: String
        @Argument(help: "The namespace prefix (\"\" for the rest).")
        var prefix: String
        @Option(help: "The nodes that hold it, comma-separated.")
        var nodes: String?
        @Flag(help: "Remove the shard: its namespaces fall to the next shorter prefix.")
        var remove = false

        func run() throws {
            guard remove != (nodes != nil) else {
                throw EngramError.invalid("--nodes", "give --nodes or --remove")
            }
            let list =
                nodes.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
                ?? []
            if !remove && list.isEmpty { throw EngramError.invalid("--nodes", "must name at least one node") }
            let (url, prefix) = (url, prefix)
            try runUntilDone {
                let database = try ClusterDatabase(url: url)
                defer { database.close() }
                try await ClusterSchema.setShard(prefix, nodes: list, on: database)
                CLIIO.current.print(
                    list.isEmpty
                        ? "removed shard \"\(prefix)\""
                        : "shard \"\(prefix)\" on \(list.joined(separator: ", "))")
            }
        }
    }

    struct InitCluster: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract:
                "Create the cluster's tables in the PostgreSQL database at URL (again: nothing changes).")

        @Argument(help: "The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
        var url: String
        @Option(help: "Embedding dimension (default: the embedder's).")
        var dimension: Int?
        @Option(
            help:
                "The nodes' embedder: minilm, hashing, or custom (then --dimension is required). Default: minilm when installed, else hashing."
        )
        var embedder: String?
        @Option(help: "Nodes holding a copy of each shard.")
        var copies = 2
        @OptionGroup var output: OutputFormat

        func run() throws {
            guard (1...16).contains(copies) else {
                throw EngramError.invalid("--copies", "must be from 1 to 16")
            }
            let (identifier, d) = try EmbedderChoice.resolve(embedder, dimension: dimension)
            let (url, copies, json) = (url, copies, output.json)
            try runUntilDone {
                let database = try ClusterDatabase(url: url)
                defer { database.close() }
                let settings = try await ClusterSchema.install(
                    .init(dimension: d, embedder: identifier, copies: copies), on: database)
                if json {
                    CLIIO.current.print(
                        JSONOutput.pretty(
                            .object([
                                "dimension": .number(Double(settings.dimension)),
                                "embedder": .string(settings.embedder),
                                "copies": .number(Double(settings.copies)),
                            ])))
                } else {
                    CLIIO.current.print(
                        "cluster ready (dimension \(settings.dimension), embedder \(settings.embedder), \(settings.copies) copies of each shard)"
                    )
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster's nodes (lease, applied position, lag), shards and memory count.")

        @Argument(help: "The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
        var url: String
        @OptionGroup var output: OutputFormat

        func run() throws {
            let (url, json) = (url, output.json)
            try runUntilDone {
                let database = try ClusterDatabase(url: url)
                defer { database.close() }
                let status = try await ClusterStatus.read(from: database)
                let io = CLIIO.current
                guard !json else { return io.print(JSONOutput.pretty(status)) }
                guard case .object(let o) = status else { return }
                io.print(
                    "memories \(o["memories"]?.jsonText ?? "?"), horizon \(o["horizon"]?.stringValue ?? "?")")
                if case .array(let nodes)? = o["nodes"] {
                    for case .object(let n) in nodes {
                        let live = n["live"] == .bool(true) ? "live" : "down"
                        io.print(
                            "node \(n["name"]?.stringValue ?? "?") \(live) \(n["state"]?.stringValue ?? "") at \(n["address"]?.stringValue ?? "")  lag \(n["lag_rows"]?.jsonText ?? "?") rows, \(n["lag_seconds"]?.jsonText ?? "?") s"
                        )
                    }
                }
                if case .array(let shards)? = o["shards"] {
                    for case .object(let s) in shards {
                        let nodes =
                            (s["nodes"].flatMap { v -> [JSONValue]? in
                                if case .array(let a) = v { return a }
                                return nil
                            } ?? []).compactMap(\.stringValue)
                        io.print(
                            "shard \"\(s["prefix"]?.stringValue ?? "")\" on \(nodes.joined(separator: ", "))")
                    }
                }
            }
        }
    }
}
