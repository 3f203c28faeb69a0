import AsyncHTTPClient
package import Engram
package import EngramService
import Foundation
import NIOCore
import NIOHTTP1

/// A cluster recall: one live node per shard serves its exact top k (this node serves its own shards),
/// and the answers merge by score with ties broken by id. A node's store holds whole shards, and the
/// global top k of each shard is within the top k of any node holding it, so the merge equals one
/// store's recall over the union.
///
/// Keyword and hybrid recalls merge the same way; each node ranks with its own shard's statistics (its
/// BM25 document frequencies, its rank fusion), so those scores compare only approximately across shards.
extension ClusterNode {
    package func recall(
        _ request: RecallRequest, scope: Scope,
        local: @escaping @Sendable (RecallRequest) async throws -> (hits: [RecallHit], plan: RecallPlan?)
    ) async throws -> (hits: [RecallHit], plan: RecallPlan?) {
        var (map, peers) = state.withLock { ($0.map, $0.peers) }
        let others: [[String]]
        do {
            others = try Self.plan(map, peers: peers, me: name, scope: scope, request: request)
        } catch {
            // The peers are read every second; one that joined since is found by reading them now.
            _ = try await reachingDatabase { try await refreshMap() }
            (map, peers) = state.withLock { ($0.map, $0.peers) }
            others = try Self.plan(map, peers: peers, me: name, scope: scope, request: request)
        }
        // This node's own share only when it holds a shard the request can reach.
        let reached = map.shards(matching: request.filter.namespace).filter { Self.reaches(scope, $0.prefix) }
        let servesHere = reached.contains { $0.nodes.contains(name) }
        let k = request.k
        let started = ContinuousClock.now
        var asked = 0
        defer {
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            state.withLock {
                $0.gathers += 1
                $0.gatherNodes += asked
                $0.gatherSeconds += seconds
            }
        }
        var request = request
        var bounds: FusionBounds?
        // Keyword and weighted-sum scores are normalised over the candidates: when more than one shard
        // answers, every shard normalises over the bounds of all shards' candidates instead of its own.
        if (servesHere ? 1 : 0) + others.count > 1, case .text(let text, var options) = request.query,
            options.mode == .keyword || (options.mode == .hybrid && options.fusion.isWeightedSum)
        {
            let (found, count) = try await fusionBounds(
                request, text: text, options: options, servesHere: servesHere, others: others, local: local)
            asked += count
            options.bounds = found
            request.query = .text(text, options)
            bounds = found
        }
        let (answers, count) = try await ask(
            request, servesHere: servesHere, others: others,
            headers: bounds.map { [(ClusterHeaders.boundsName, ClusterHeaders.header($0))] } ?? [],
            local: local)
        asked += count
        var seen = Set<MemoryID>()
        let merged = answers.flatMap(\.hits).sorted {
            $0.score != $1.score ? $0.score > $1.score : $0.memory.id < $1.memory.id
        }.filter { seen.insert($0.memory.id).inserted }
        return (Array(merged.prefix(k)), answers.lazy.compactMap(\.plan).first)
    }

    /// Asks this node (when `servesHere`) and one node of each of `others` for their top k; returns the
    /// answers and how many nodes were asked.
    func ask(
        _ request: RecallRequest, servesHere: Bool, others: [[String]], headers: [(String, String)],
        local: @escaping @Sendable (RecallRequest) async throws -> (hits: [RecallHit], plan: RecallPlan?)
    ) async throws -> (answers: [(hits: [RecallHit], plan: RecallPlan?)], asked: Int) {
        try await withThrowingTaskGroup(of: (hits: [RecallHit], plan: RecallPlan?).self) { group in
            if servesHere {
                group.addTask {
                    try await self.awaitApplied(request.token)
                    return try await local(request)
                }
            }
            // The text's embedding travels with the share, so the other nodes do not embed it again.
            let headers =
                headers
                + (request.queryEmbedding.map { [(ClusterHeaders.embeddingName, ClusterHeaders.header($0))] }
                    ?? [])
            for candidates in others {
                group.addTask { (try await Self.share(of: request, from: candidates, headers: headers), nil) }
            }
            var answers: [(hits: [RecallHit], plan: RecallPlan?)] = []
            for try await answer in group { answers.append(answer) }
            return (answers, (servesHere ? 1 : 0) + others.count)
        }
    }

    /// The fusion bounds one store holding every shard would use: each shard's candidates (its recall with
    /// a k that returns them all, without time neighbours), the best `max(k, candidates)` of their union
    /// on each side, the cosine range over those and the BM25 range over the keyword side's. Cosines are
    /// the same numbers on every node, so the vector side's bounds are exact; BM25 scores use each shard's
    /// own document frequencies, so the keyword side's are close, not exact.
    func fusionBounds(
        _ request: RecallRequest, text: String, options: TextRecallOptions, servesHere: Bool,
        others: [[String]],
        local: @escaping @Sendable (RecallRequest) async throws -> (hits: [RecallHit], plan: RecallPlan?)
    ) async throws -> (FusionBounds, asked: Int) {
        let perSide = max(request.k, options.candidates)
        var probe = request
        var probing = options
        probing.neighbours = 0
        probing.perSide = perSide
        probe.query = .text(text, probing)
        probe.k = min(Limits.maxK, 2 * perSide)
        if let forwarded = request.forwarded, case .object(var o) = try JSONValue(parsing: forwarded.body) {
            o["k"] = .number(Double(probe.k))
            o["neighbours"] = .number(0)
            probe.forwarded?.body = Array(JSONValue.object(o).jsonText.utf8)
        }
        let (answers, asked) = try await ask(
            probe, servesHere: servesHere, others: others,
            headers: [(ClusterHeaders.probeName, String(perSide))],
            local: local)
        var byID: [MemoryID: HitExplanation] = [:]
        for hit in answers.flatMap(\.hits) {
            if let explanation = hit.explanation { byID[hit.memory.id] = explanation }
        }
        let vectorSide = byID.filter { $0.value.vectorRank != nil }
            .sorted { ($0.value.cosine ?? -2, $1.key) > ($1.value.cosine ?? -2, $0.key) }.prefix(perSide)
        let keywordSide = byID.filter { $0.value.keywordRank != nil }
            .sorted { ($0.value.keywordScore ?? 0, $1.key) > ($1.value.keywordScore ?? 0, $0.key) }.prefix(
                perSide)
        let cosines = (vectorSide + keywordSide).compactMap { $0.value.cosine.map(Double.init) }
        let scores = keywordSide.compactMap(\.value.keywordScore)
        return (
            FusionBounds(
                cosine: cosines.min().map { $0...cosines.max()! },
                keyword: scores.min().map { $0...scores.max()! }),
            asked
        )
    }

    /// The other nodes to ask: for each shard the request and scope reach that this node does not hold,
    /// the addresses of the live nodes holding it, in the order to try them (shards with the same nodes
    /// share one request). A recall of one tenant's namespace asks the one shard that holds it.
    static func plan(
        _ map: ShardMap, peers: [String: String], me: String, scope: Scope, request: RecallRequest
    ) throws -> [[String]] {
        var asks: [[String]] = []
        for shard in map.shards(matching: request.filter.namespace)
        where !shard.nodes.contains(me) && Self.reaches(scope, shard.prefix) {
            let live = shard.nodes.filter { peers[$0] != nil }.sorted().compactMap { peers[$0] }
            guard !live.isEmpty else {
                throw EngramError(
                    .behind, "no live node holds the shard \"\(shard.prefix)\"; retry shortly", field: nil)
            }
            if !asks.contains(live) { asks.append(live) }
        }
        return asks
    }

    /// Whether a scope can see any namespace under `prefix`.
    static func reaches(_ scope: Scope, _ prefix: String) -> Bool {
        scope.isUnrestrictedNamespaces || prefix.isEmpty
            || scope.namespaces.contains {
                $0 == prefix || $0.hasPrefix(prefix + "/") || prefix.hasPrefix($0 + "/")
            }
    }

    /// One shard's hits from the first of `candidates` that answers: a node that cannot be reached (it
    /// died within its lease) or is behind passes the request to the next copy.
    static func share(of request: RecallRequest, from candidates: [String], headers: [(String, String)])
        async throws -> [RecallHit]
    {
        for address in candidates {
            do {
                return try await share(of: request, from: address, headers: headers)
            } catch let error as EngramError where error.code != .behind {
                throw error  // the request itself is refused: every copy would refuse it
            } catch {
                continue
            }
        }
        throw EngramError(.behind, "no node holding a shard answered; retry shortly")
    }

    /// One node's share: the caller's request as it came, marked as a share, with the caller's key.
    static func share(of request: RecallRequest, from address: String, headers: [(String, String)])
        async throws -> [RecallHit]
    {
        guard let forwarded = request.forwarded, let url = URL(string: address + "/v1/recall") else {
            throw EngramError(.notOnCluster, "a cluster recall needs the HTTP request to pass on", field: nil)
        }
        // AsyncHTTPClient's shared pool keeps connections to the other nodes open (URLSession on Linux
        // cost about 10 ms a call here).
        var http = HTTPClientRequest(url: url.absoluteString)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: ClusterHeaders.shareName, value: "1")
        for (name, value) in headers { http.headers.add(name: name, value: value) }
        if let authorization = forwarded.authorization {
            http.headers.add(name: "Authorization", value: authorization)
        }
        http.body = .bytes(forwarded.body)
        let response = try await HTTPClient.shared.execute(http, timeout: .seconds(30))
        let status = Int(response.status.code)
        let data = Array((try await response.body.collect(upTo: 256 << 20)).readableBytesView)
        let answer = try JSONValue(parsing: data)
        guard status == 200, case .object(let o) = answer, case .array(let hits)? = o["hits"] else {
            if case .object(let o) = answer, case .object(let error)? = o["error"],
                let code = error["code"]?.stringValue, let message = error["message"]?.stringValue
            {
                throw EngramError(
                    EngramError.Code(rawValue: code), message, field: error["field"]?.stringValue)
            }
            throw EngramError(.behind, "the node at \(address) answered \(status); retry shortly", field: nil)
        }
        return try hits.map(MemoryJSON.hit(from:))
    }
}
