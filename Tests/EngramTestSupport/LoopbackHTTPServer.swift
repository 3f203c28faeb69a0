import Engram
public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: each request (method, path, headers, body) goes to
/// `handler`, which returns status, extra headers and body. One connection at a time, closed after
/// each answer. Stops when released.
// Sendable: socket fd and handler are immutable.
/// A small HTTP/1.1 server on a loopback port that answers each request with a handler, for tests of HTTP clients.
public final class LoopbackHTTPServer: @unchecked Sendable {
    /// A received request.
    public struct Request: Sendable {
        /// The request method.
        public var method: String
        /// The request path.
        public var path: String
        /// Header fields, names lowercased.
        public var headers: [String: String]
        /// The body bytes.
        public var body: Data
    }

    /// An answer.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// Header fields, names lowercased.
        public var headers: [String: String]
        /// The body bytes.
        public var body: Data
        /// Seconds to wait before answering (to provoke client timeouts).
        public var delay: TimeInterval

        /// Creates one from its parts.
        public init(
            status: Int, headers: [String: String] = [:], body: Data = Data(), delay: TimeInterval = 0
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }
    }

    /// The port it listens on.
    public let port: UInt16
    private let fd: Int32
    private let handler: @Sendable (Request) -> Response
    /// Set before the socket closes, so the serving thread never accepts on a reused descriptor number.
    private let stopped = StopFlag()

    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Starts listening on an ephemeral port of 127.0.0.1.
    public init(handler: @escaping @Sendable (Request) -> Response) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw EngramError(.io, "cannot listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
        let stopped = self.stopped
        let thread = Thread { Self.serve(fd, handler, stopped) }
        thread.start()
    }

    deinit {
        stopped.value.store(true, ordering: .sequentiallyConsistent)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// `http://127.0.0.1:<port>`.
    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }  // invariant: a valid literal URL

    private static func serve(_ fd: Int32, _ handler: @Sendable (Request) -> Response, _ stopped: StopFlag) {
        while !stopped.value.load(ordering: .sequentiallyConsistent) {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            if stopped.value.load(ordering: .sequentiallyConsistent) {
                close(client)
                return
            }
            var received = Data()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var request: Request?
            while request == nil {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                received.append(contentsOf: buffer[0..<n])
                request = parse(received)
            }
            if let request {
                let response = handler(request)
                if response.delay > 0 { Thread.sleep(forTimeInterval: response.delay) }
                var head =
                    "HTTP/1.1 \(response.status) Status\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n"
                for (k, v) in response.headers { head += "\(k): \(v)\r\n" }
                let bytes = Data((head + "\r\n").utf8) + response.body
                _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            }
            close(client)
        }
    }

    private static func parse(_ data: Data) -> Request? {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        guard let first = head.first else { return nil }
        let parts = first.split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let body = data[end.upperBound...]
        guard body.count >= length else { return nil }
        return Request(
            method: parts.count > 0 ? String(parts[0]) : "", path: parts.count > 1 ? String(parts[1]) : "",
            headers: headers, body: Data(body.prefix(length)))
    }
}
