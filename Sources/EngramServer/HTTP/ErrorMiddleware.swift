import Engram
import EngramService
import Hummingbird
import Logging

/// Turns every failure into the JSON error body and the status that fits, so a client never sees a
/// stack trace, an HTML page or a dropped connection. Messages never quote memory contents.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = EngramContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as EngramError {
            return JSONResponse.error(Self.status(for: error), code: error.code.rawValue, message: error.message, field: error.field)
        } catch let error as APIError {
            return JSONResponse.error(error.status, code: error.code, message: error.message, field: error.field)
        } catch is Overloaded {
            return JSONResponse.error(
                .serviceUnavailable, code: "overloaded", message: "the server is at its queue depth; retry shortly",
                retryAfter: 1)
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .contentTooLarge:
                return JSONResponse.error(.contentTooLarge, code: "tooLarge", message: "the request body is too large", field: "body")
            case .notFound:
                return JSONResponse.error(.notFound, code: "notFound", message: "no such route")
            case .methodNotAllowed:
                return JSONResponse.error(.methodNotAllowed, code: "methodNotAllowed", message: "this route does not take that method")
            default:
                return JSONResponse.error(error.status, code: "badRequest", message: "the request could not be read")
            }
        } catch {
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            return JSONResponse.error(.internalServerError, code: "internal", message: "internal error")
        }
    }

    /// The HTTP status for a library error.
    static func status(for error: EngramError) -> HTTPResponse.Status {
        switch error.code {
        case .invalidArgument where error.field == "body": .badRequest
        case .invalidArgument, .dimensionMismatch, .embedderMismatch: .unprocessableContent
        case .notFound: .notFound
        case .permissionDenied: .forbidden
        case .alreadyExists: .conflict
        case .locked, .notWritable: .serviceUnavailable
        default: .internalServerError
        }
    }
}
