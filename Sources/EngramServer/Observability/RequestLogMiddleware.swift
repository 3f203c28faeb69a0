import EngramService
import Foundation
import Hummingbird
import Logging

/// One structured log line and one metrics sample per request: request id, route pattern, method,
/// status, duration and key name; never bodies, ids from paths or memory contents.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = EngramContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let seconds = (ContinuousClock.now - started).seconds
        let route = context.endpointPath ?? "unmatched"
        metrics.request(
            route: route, method: request.method.rawValue, status: response.status.code, seconds: seconds)
        context.logger.info(
            "request",
            metadata: [
                "route": .string(route), "method": .string(request.method.rawValue),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.3f", seconds * 1000)),
                "key": .string(context.keyName.value ?? "-"),
            ])
        return response
    }
}
