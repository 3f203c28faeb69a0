import Engram
import EngramService
import Metrics
import Prometheus
import Synchronization

/// What the server counts, exported at `/metrics` in the Prometheus text format.
///
/// Metrics go through swift-metrics handlers made by a Prometheus factory that this object owns
/// (not the process-wide `MetricsSystem`), so several servers in one test process never share
/// counts. No label grows with the data: routes are patterns, never namespaces, keys or ids.
final class ServerMetrics: ServiceMetrics {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let hitThreshold: Float

    private let recallDuration: Metrics.Timer
    private let recallBatch: Metrics.Recorder
    private let recallQueries: Metrics.Counter
    private let recallScans: Metrics.Counter
    private let knowledgeHits: Metrics.Counter
    private let embedDuration: Metrics.Timer
    private let embeddedTexts: Metrics.Counter
    private let queue: Metrics.Gauge
    private let knowledgeRatio: Metrics.Gauge
    private let vectorsScanned: Metrics.Counter
    private let scannedSoFar = Atomic<Int>(0)
    private let queries = Atomic<Int>(0)
    private let hits = Atomic<Int>(0)

    init(hitThreshold: Float) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128]
        self.factory = factory
        self.hitThreshold = hitThreshold
        recallDuration = Metrics.Timer(label: "engram_recall_duration_seconds", factory: factory)
        recallBatch = Metrics.Recorder(label: "engram_recall_batch_size", factory: factory)
        recallQueries = Metrics.Counter(label: "engram_recall_queries_total", factory: factory)
        recallScans = Metrics.Counter(label: "engram_recall_scans_total", factory: factory)
        knowledgeHits = Metrics.Counter(label: "engram_knowledge_hits_total", factory: factory)
        embedDuration = Metrics.Timer(label: "engram_embed_duration_seconds", factory: factory)
        embeddedTexts = Metrics.Counter(label: "engram_embedded_texts_total", factory: factory)
        queue = Metrics.Gauge(label: "engram_queue_depth", factory: factory)
        knowledgeRatio = Metrics.Gauge(label: "engram_knowledge_hit_ratio", factory: factory)
        vectorsScanned = Metrics.Counter(label: "engram_vectors_scanned_total", factory: factory)
    }

    /// One answered HTTP request.
    func request(route: String, method: String, status: Int, seconds: Double) {
        Metrics.Counter(
            label: "engram_http_requests_total",
            dimensions: [("route", route), ("method", method), ("status", String(status))],
            factory: factory
        ).increment()
        Metrics.Timer(
            label: "engram_http_request_duration_seconds",
            dimensions: [("route", route), ("method", method)], factory: factory
        ).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// One scan answering `batch` recalls (a text recall is a batch of one).
    func recalled(batch: Int, seconds: Double, hits results: [[RecallHit]]) {
        recallDuration.recordNanoseconds(Int64(seconds * 1e9))
        recallBatch.record(batch)
        recallScans.increment()
        recallQueries.increment(by: batch)
        let found = results.filter { ($0.first?.score ?? -.infinity) >= hitThreshold }.count
        knowledgeHits.increment(by: found)
        let total = queries.add(batch, ordering: .relaxed).newValue
        let hit = hits.add(found, ordering: .relaxed).newValue
        knowledgeRatio.record(Double(hit) / Double(max(total, 1)))
    }

    /// One embedding call of `count` texts.
    func embedded(count: Int, seconds: Double) {
        embedDuration.recordNanoseconds(Int64(seconds * 1e9))
        embeddedTexts.increment(by: count)
    }

    func authFailure(reason: String) {
        Metrics.Counter(
            label: "engram_auth_failures_total", dimensions: [("reason", reason)], factory: factory
        ).increment()
    }

    func rejected(reason: String) {
        Metrics.Counter(label: "engram_rejected_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    func queueDepth(_ depth: Int) { queue.record(depth) }

    /// Store-wide gauges, read when `/metrics` is scraped; `scanned` is the store's running total of
    /// vector rows scored.
    func storeGauges(_ stats: StoreStats, workingItems: Int, scanned: Int) {
        let before = scannedSoFar.exchange(scanned, ordering: .relaxed)
        if scanned > before { vectorsScanned.increment(by: scanned - before) }
        func gauge(_ label: String, _ value: Double, _ dimensions: [(String, String)] = []) {
            Metrics.Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
        }
        gauge("engram_memories", Double(stats.memories))
        gauge("engram_namespaces", Double(stats.byNamespace.count))
        gauge("engram_store_bytes", Double(stats.vectorFileBytes), [("file", "vectors")])
        gauge("engram_store_bytes", Double(stats.databaseBytes), [("file", "database")])
        gauge("engram_mapped_bytes", Double(stats.mappedBytes))
        if let resident = stats.residentBytes { gauge("engram_resident_bytes", Double(resident)) }
        gauge("engram_working_items", Double(workingItems))
        gauge("engram_cached_embeddings", Double(stats.cachedEmbeddings))
        if let rate = stats.embeddingCache.hitRate { gauge("engram_embedding_cache_hit_ratio", rate) }
    }

    /// A cluster node's replication and gather figures.
    func clusterGauges(_ f: ClusterFigures) {
        func gauge(_ label: String, _ value: Double) {
            Metrics.Gauge(label: label, factory: factory).record(value)
        }
        gauge("engram_cluster_ready", f.ready ? 1 : 0)
        gauge("engram_cluster_lag_seconds", f.lagSeconds)
        gauge("engram_cluster_lag_rows", Double(f.lagRows))
        gauge("engram_cluster_applied_rows", Double(f.appliedRows))
        gauge("engram_cluster_bootstrapped_memories", Double(f.bootstrapped))
        gauge("engram_cluster_gathers", Double(f.gathers))
        gauge("engram_cluster_gather_nodes", Double(f.gatherNodes))
        gauge("engram_cluster_gather_seconds", f.gatherSeconds)
    }

    /// The Prometheus text exposition of everything above.
    func exposition() -> String { registry.emitToString() }
}
