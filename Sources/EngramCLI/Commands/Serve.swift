import ArgumentParser
import Engram
import EngramCluster
import EngramMCP
import EngramServer
import EngramService
import Foundation
import Logging

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Serve the store over HTTP: a JSON API under /v1 with API keys, /metrics, /healthz and /readyz.",
        discussion: """
            One process holds the store; agents share it over HTTP. While the key file (--keys, default \
            STORE/keys.json) does not exist, every request is unrestricted and the server binds loopback only \
            (another address needs --insecure). Once it exists, every /v1 request needs a key \
            (Authorization: Bearer KEY or X-API-Key: KEY); see `engram keys create`. SIGTERM or SIGINT stops \
            accepting, drains requests in flight and closes the store.
            """)

    @OptionGroup var location: StoreLocation

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one; the line on standard output says which).")
    var port = 8420

    @Option(help: "The API key file (default: keys.json in the store directory).")
    var keys: String?

    @Flag(help: "Allow a non-loopback address without API keys.")
    var insecure = false

    @Option(
        name: .customLong("queue-depth"),
        help: "Requests waiting or running before new ones get 503 with Retry-After.")
    var queueDepth = 256

    @Option(help: "Worker threads for embedding, scans and SQLite (default: all cores).")
    var workers = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("max-body"), help: "Largest request body in bytes.")
    var maxBody = 8 << 20

    @Option(name: .customLong("max-batch"), help: "Most memories in one POST /v1/memories.")
    var maxBatch = 1000

    @Option(
        help: ArgumentHelp(
            "Run as a node of the cluster whose PostgreSQL database is at this URL (postgres://...).",
            discussion:
                "The store directory is then this node's replica of its shards: made, and rebuilt from PostgreSQL, as needed. Name a primary and its standbys (postgres://USER@HOST1:PORT,HOST2:PORT/DB) and the node follows a promotion."
        ))
    var cluster: String?

    @Option(help: "This node's name in the cluster (with --cluster).")
    var node: String?

    @Option(help: "The URL other nodes reach this one at (with --cluster; default http://HOST:PORT).")
    var advertise: String?

    @Option(
        name: .customLong("max-lag"),
        help: "Seconds of replication lag beyond which /readyz says not ready (with --cluster).")
    var maxLag = 10.0

    func run() throws {
        try ProcessScope.requireWholeStore("serve")
        var configuration = ServerConfiguration(keysPath: keys ?? KeyFile.defaultPath(store: location.path))
        configuration.host = host
        configuration.port = port
        configuration.insecure = insecure
        configuration.queueDepth = queueDepth
        configuration.workers = workers
        configuration.maxBodyBytes = maxBody
        configuration.maxBatch = maxBatch

        if let cluster { return try serveNode(of: cluster, configuration) }
        let store = try MemoryStore.open(at: location.path, options: StoreLocation.options())
        let io = CLIIO.current
        let resolver = EmbedderResolver(environment: io.environment)
        let settings = configuration
        let served = Result {
            try runUntilDone {
                try await EngramServer.serve(
                    store: store, configuration: settings, resolver: resolver, logger: Self.logger(),
                    mcp: { service in MCPHTTPSessions(service: service, checksOrigin: settings.isLoopback) }
                ) { port in
                    io.print("engram: serving \(store.path) at http://\(settings.host):\(port)")
                }
            }
        }
        try store.close()
        try served.get()
    }

    /// Logs go to standard error, one line each; `ENGRAM_LOG_LEVEL` (default info) sets the level.
    /// Serves as a cluster node: writes go to PostgreSQL, recalls gather from the shards' nodes.
    private func serveNode(of url: String, _ configuration: ServerConfiguration) throws {
        guard let name = node else { throw EngramError.invalid("--node", "is required with --cluster") }
        let io = CLIIO.current
        let resolver = EmbedderResolver(environment: io.environment)
        let (host, advertise, path, maxLag) = (host, advertise, location.path, maxLag)
        try runUntilDone {
            let logger = Self.logger()
            let node = try await ClusterNode(
                url: url, name: name, directory: path, maxLag: maxLag, logger: logger)
            let served: Result<Void, any Error>
            do {
                try await EngramServer.serve(
                    store: node.store, configuration: configuration, resolver: resolver, logger: logger,
                    cluster: node
                ) { port in
                    let address = advertise ?? "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)"
                    do {
                        try await node.start(address: address)
                        io.print("engram: node \(name) serving \(path) at http://\(host):\(port)")
                    } catch {
                        logger.critical(
                            "the node could not join its cluster", metadata: ["error": "\(error)"])
                        kill(getpid(), SIGTERM)  // drain and stop
                    }
                }
                served = .success(())
            } catch {
                served = .failure(error)
            }
            await node.stop()
            try node.store.close()
            try served.get()
        }
    }

    static func logger() -> Logger {
        var logger = Logger(label: "engram.server") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel =
            CLIIO.current.environment["ENGRAM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return logger
    }
}
