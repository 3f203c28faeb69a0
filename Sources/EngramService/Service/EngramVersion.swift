/// The one version of Engram that the CLI (`--version`), the server, MCP's `initialize` and the
/// OpenAPI document report.
package enum EngramVersion {
    package static let current = "0.2.0"
}
