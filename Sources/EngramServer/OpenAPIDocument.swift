import Engram
import Foundation

/// The OpenAPI 3.1 document checked in beside the code (`openapi.json`), served at `/openapi.json`.
package enum OpenAPIDocument {
    package static func text() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else { throw EngramError(.io, "the OpenAPI document is missing from the installation") }
        return String(decoding: data, as: UTF8.self)
    }
}
