package import Engram

/// Which nodes hold which namespaces: a shard is a namespace prefix (`acme` holds `acme` and
/// `acme/...`; the empty prefix holds everything), and a namespace belongs to the longest prefix that
/// holds it. Each shard lists the nodes holding a copy, and the map has an epoch every change bumps.
package struct ShardMap: Sendable, Hashable {
    package struct Shard: Sendable, Hashable {
        package var prefix: String
        package var nodes: [String]
        package var epoch: Int64

        package init(prefix: String, nodes: [String], epoch: Int64) {
            self.prefix = prefix
            self.nodes = nodes
            self.epoch = epoch
        }

        /// Whether the prefix holds this namespace (before longer prefixes are considered).
        func covers(_ namespace: String) -> Bool {
            prefix.isEmpty || namespace == prefix || namespace.hasPrefix(prefix + "/")
        }
    }

    /// Longest prefix first.
    package private(set) var shards: [Shard]

    package init(_ shards: [Shard]) {
        self.shards = shards.sorted { ($0.prefix.count, $0.prefix) > ($1.prefix.count, $1.prefix) }
    }

    /// The highest shard epoch: any change to the map raises it.
    package var epoch: Int64 { shards.map(\.epoch).max() ?? 0 }

    /// The shard a namespace belongs to (nil when no prefix holds it: a map without the empty prefix).
    package func shard(of namespace: String) -> Shard? {
        shards.first { $0.covers(namespace) }
    }

    /// Whether `node` holds a copy of the namespace's shard.
    package func holds(_ node: String, _ namespace: String) -> Bool {
        shard(of: namespace)?.nodes.contains(node) ?? false
    }

    /// The shards that can hold a namespace the condition accepts (every shard without one): for
    /// `exact(n)` the shard of `n`; for `prefix(p)` the shard of `p` and every shard under `p`.
    package func shards(matching condition: MemoryFilter.NamespaceMatch?) -> [Shard] {
        switch condition {
        case nil:
            return shards
        case .exact(let namespace):
            return shard(of: namespace).map { [$0] } ?? []
        case .prefix(let root):
            let holder = shard(of: root)?.prefix
            return shards.filter {
                $0.prefix == holder
                    || (!$0.prefix.isEmpty && ($0.prefix == root || $0.prefix.hasPrefix(root + "/")))
            }
        }
    }
}
