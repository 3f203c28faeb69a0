import Engram
import EngramService
import Foundation
import HTTPTypes
import Hummingbird

/// Maps the request's API key to its scope: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
/// Without a key file every request is unrestricted (the server then binds loopback only). A key with a
/// rate gets 429 with Retry-After past it; each key's requests are counted into the audit log.
struct KeyAuthenticator: RouterMiddleware {
    typealias Context = EngramContext
    let parts: EngramServer.Parts
    var keys: KeyRing { parts.keys }
    var metrics: ServerMetrics { parts.metrics }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        switch keys.lookup(Self.presentedKey(request)) {
        case .open:
            context.scope = .unrestricted
        case .key(let record):
            if let wait = parts.keyLimits.admit(key: record.id, rate: record.rate) {
                return JSONResponse.error(
                    .tooManyRequests, code: "rateLimited",
                    message: "this key may make \(record.rate ?? 0) requests a second; retry after \(wait) s",
                    retryAfter: wait)
            }
            if request.method != .get,
                let wait = parts.keyLimits.admitWrite(key: record.id, quota: record.dailyWrites)
            {
                return JSONResponse.error(
                    .tooManyRequests, code: "quotaExceeded",
                    message:
                        "this key may make \(record.dailyWrites ?? 0) writing requests a day; retry after \(wait) s",
                    retryAfter: wait)
            }
            if let due = parts.keyLimits.noteUse(key: record.name) {
                let service = parts.service
                Task { try? await service.recordKeyUse(due.uses, over: due.seconds) }
            }
            context.scope = record.scope
            context.keyName.value = record.name
            context.keyID.value = record.id
        case .missing:
            metrics.authFailure(reason: "missing")
            return Self.unauthorized(
                "this server needs an API key: Authorization: Bearer KEY or X-API-Key: KEY")
        case .unknown:
            metrics.authFailure(reason: "unknown")
            return Self.unauthorized("the API key is not valid (unknown or revoked)")
        }
        return try await next(request, context)
    }

    static func presentedKey(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return String(parts[1]).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }
        if let name = HTTPField.Name("X-API-Key"), let key = request.headers[name] { return key }
        return nil
    }

    private static func unauthorized(_ message: String) -> Response {
        var response = JSONResponse.error(.unauthorized, code: "unauthenticated", message: message)
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }
}
