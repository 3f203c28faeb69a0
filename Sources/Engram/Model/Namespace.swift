/// Namespace arithmetic. Namespaces are `/`-separated paths (`acme/support/user-42`); a namespace
/// contains itself and every namespace below it.
enum Namespace {
    /// Whether `namespace` is `root` or below it (`acme` contains `acme/support`, not `acme-corp`).
    static func contains(_ root: String, _ namespace: String) -> Bool {
        namespace == root || namespace.hasPrefix(root + "/")
    }
}
