import Engram
import EngramService
import Hummingbird
import Logging

/// Turns every failure into the JSON error body and the status that fits, so a client never sees a
/// stack trace, an HTML page or a dropped connection. Messages never quote memory contents.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = EngramContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            return Self.response(for: error)
        } catch {
            let failure = ServiceError(error)
            if failure.code == .internal {
                context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            }
            return JSONResponse.error(
                Self.status(for: failure), code: failure.code.rawValue, message: failure.message,
                field: failure.field,
                retryAfter: failure.code == .overloaded || failure.code == .behind ? 1 : nil)
        }
    }

    /// The answer to a failure Hummingbird itself reports (body too large, no route, wrong method).
    static func response(for error: any HTTPResponseError) -> Response {
        switch error.status {
        case .contentTooLarge:
            return JSONResponse.error(
                .contentTooLarge, code: "tooLarge", message: "the request body is too large", field: "body")
        case .notFound:
            return JSONResponse.error(.notFound, code: "notFound", message: "no such route")
        case .methodNotAllowed:
            return JSONResponse.error(
                .methodNotAllowed, code: "methodNotAllowed", message: "this route does not take that method")
        default:
            return JSONResponse.error(
                error.status, code: "badRequest", message: "the request could not be read")
        }
    }

    /// The HTTP status for a service error's code.
    static func status(for error: ServiceError) -> HTTPResponse.Status {
        switch error.code {
        case .invalidArgument where error.field == "body": .badRequest
        case .invalidArgument, .dimensionMismatch, .embedderMismatch: .unprocessableContent
        case .notFound: .notFound
        case .permissionDenied: .forbidden
        case .alreadyExists: .conflict
        case .tooLarge: .contentTooLarge
        case .locked, .notWritable, .overloaded, .behind: .serviceUnavailable
        case .notOnCluster: .notImplemented
        default: .internalServerError
        }
    }
}
