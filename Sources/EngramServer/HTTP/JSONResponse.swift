import Engram
import EngramService
import Foundation
import Hummingbird
import NIOCore

/// JSON in and out: bodies read with a size limit, answers written as compact JSON.
enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        make(text: value.jsonText, status: status)
    }

    static func make(
        text: String, status: HTTPResponse.Status = .ok, contentType: String = "application/json"
    ) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        if contentType == "application/json" { buffer.writeString("\n") }
        return Response(
            status: status, headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: buffer))
    }

    static func noContent() -> Response { Response(status: .noContent) }

    /// `{"error": {...}}` with a status; `Retry-After` when the caller should come back.
    static func error(
        _ status: HTTPResponse.Status, code: String, message: String, field: String? = nil,
        retryAfter: Int? = nil
    )
        -> Response
    {
        var response = make(ErrorJSON.object(code: code, message: message, field: field), status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

extension Request {
    /// The body as a JSON object, refused with 413 past `limit` bytes and 400 when it is not JSON.
    mutating func jsonObject(limit: Int) async throws -> JSONObject {
        let buffer = try await collectBody(upTo: limit)
        return try JSONObject(parsing: Data(buffer.readableBytesView))
    }
}
