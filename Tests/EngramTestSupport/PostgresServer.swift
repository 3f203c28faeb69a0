import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL 15 server for the cluster tests: `initdb` in a temporary directory and
/// `postgres` on a free loopback port, with trust authentication. PostgreSQL refuses to run as root, so
/// under root (CI, sessions) both run as the `postgres` user through `setpriv`, in a directory that
/// user owns. `psql(_:)` runs SQL through Debian's client, as an oracle independent of Engram's driver.
public final class PostgresServer: @unchecked Sendable {  // Sendable: set in init, then only read.
    /// Where Debian's `postgresql-15` puts its programs.
    public static let binaries = "/usr/lib/postgresql/15/bin"

    /// The loopback port it listens on.
    public let port: Int
    /// The temporary directory holding its data and socket, removed by ``stop()``.
    public let directory: String
    private let process: Process

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Whether PostgreSQL 15 is installed (`make test` installs it).
    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: binaries + "/postgres")
    }

    /// Creates the cluster and starts the server; returns once it accepts connections. With `standbyOf`,
    /// the cluster is a streaming standby of that server instead (`pg_basebackup -R`), its WAL sent as
    /// the standby `standby` (the name `synchronous_standby_names` can list).
    public init(settings: [String: String] = [:], standbyOf primary: PostgresServer? = nil) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "engram-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = base.path
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory)
        }
        let data = directory + "/data"
        if let primary {
            try Self.run(
                Self.binaries + "/pg_basebackup",
                [
                    "-D", data, "-R", "-X", "stream", "--no-sync", "-U", "postgres",
                    "-d", "host=127.0.0.1 port=\(primary.port) application_name=standby",
                ])
        } else {
            try Self.run(
                Self.binaries + "/initdb",
                ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        }
        port = try Self.freePort()
        var arguments = [
            "-D", data, "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "max_connections=200",
        ]
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            arguments += ["-c", "\(key)=\(value)"]
        }
        process = Self.process(Self.binaries + "/postgres", arguments)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while (try? psql("SELECT 1")) != "1" {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw PostgresServerError(message: "PostgreSQL did not start on port \(port)")
            }
            usleep(100_000)
        }
    }

    deinit { stop() }

    /// Ends the server as a crash would (immediate shutdown: no checkpoint, connections cut). The
    /// directory stays until ``stop()``.
    public func crash() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGQUIT)
        process.waitUntilExit()
    }

    /// Promotes a standby to primary; returns once it accepts writes.
    public func promote() throws {
        try psql("SELECT pg_promote(true, 60)")
    }

    /// Stops the server (fast shutdown) and removes its directory.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs SQL with `psql` (unaligned, tuples only) and returns its output without the final newline.
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        let output = try Self.run(
            Self.binaries + "/psql",
            [
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U",
                "postgres",
                "-d", "postgres", "-c", sql,
            ])
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    /// A process that runs as `postgres` when this one is root.
    static func process(_ program: String, _ arguments: [String]) -> Process {
        let process = Process()
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments =
                ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", program] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        }
        return process
    }

    /// Runs a program to its end and returns its standard output. The output goes through temporary files,
    /// not pipes: a pipe's write end can leak into a child another thread spawns at the same moment, and a
    /// read to its end then waits for that child (seen here: a test hung reading `psql`'s output).
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], asPostgres: Bool = true) throws -> String
    {
        let process: Process
        if asPostgres {
            process = Self.process(program, arguments)
        } else {
            process = Process()
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "engram-run-\(UUID().uuidString)")
        let (outPath, errPath) = (base.path + ".out", base.path + ".err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let (output, errors) = (FileHandle(forWritingAtPath: outPath), FileHandle(forWritingAtPath: errPath))
        process.standardOutput = output
        process.standardError = errors
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        try process.run()
        process.waitUntilExit()
        try? output?.close()
        try? errors?.close()
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw PostgresServerError(
                message: "\(program) failed: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")"
            )
        }
        return text
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw PostgresServerError(message: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why the test server could not run.
public struct PostgresServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// The message.
    public var description: String { message }
    /// An error saying `message`.
    public init(message: String) { self.message = message }
}
