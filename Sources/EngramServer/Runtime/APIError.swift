import Hummingbird

/// A refusal that is about HTTP rather than the store (too large, confirmation missing).
struct APIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var field: String?
}
