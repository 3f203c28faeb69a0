package import Hummingbird

/// A refusal that is about HTTP rather than the store (too large, confirmation missing).
package struct APIError: Error {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    package var field: String?
}
