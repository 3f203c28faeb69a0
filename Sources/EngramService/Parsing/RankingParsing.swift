package import Engram
import Foundation

/// Text-recall ranking options from the command line's words and from JSON, built one way.
package enum RankingParsing {
    /// `hybrid`, `vector` or `keyword`.
    package static func mode(_ text: String, field: String) throws -> RecallMode {
        guard let mode = RecallMode(rawValue: text) else {
            throw EngramError.invalid(field, "must be hybrid, vector or keyword")
        }
        return mode
    }

    /// `weighted:W` (vector weight W of min-max normalised scores) or `rrf:K`.
    package static func fusion(_ text: String, field: String) throws -> Fusion {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
            throw EngramError.invalid(field, "must be weighted:W or rrf:K")
        }
        switch parts[0] {
        case "weighted": return .weightedSum(vectorWeight: value)
        case "rrf": return .reciprocalRank(k: value)
        default: throw EngramError.invalid(field, "must be weighted:W or rrf:K")
        }
    }

    /// `content=W,cause=W,outcome=W,tags=W`, any subset; the columns not named keep weight 1.
    package static func columns(_ text: String, field: String) throws -> ColumnWeights {
        var weights = ColumnWeights()
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard pair.count == 2, let value = Double(pair[1]), value.isFinite, value >= 0 else {
                throw EngramError.invalid(field, "'\(part)' is not COLUMN=WEIGHT with a weight of at least 0")
            }
            switch pair[0] {
            case "content": weights.content = value
            case "cause": weights.cause = value
            case "outcome": weights.outcome = value
            case "tags": weights.tags = value
            default:
                throw EngramError.invalid(field, "'\(pair[0])' is not one of content, cause, outcome, tags")
            }
        }
        return weights
    }

    /// Options from a request's `mode`, `fusion`, `candidates`, `signals` (false: relevance only) and
    /// `neighbours` (the time-neighbour share; 0 turns it off).
    package static func options(_ o: JSONObject) throws -> TextRecallOptions {
        var options = TextRecallOptions(
            mode: try o.string("mode").map { try mode($0, field: o.path + "mode") } ?? .hybrid)
        if let fusion = try o.string("fusion") {
            options.fusion = try self.fusion(fusion, field: o.path + "fusion")
        }
        if let candidates = try o.int("candidates") { options.candidates = candidates }
        if try o.bool("signals") == false { options.signals = .none }
        if let neighbours = try o.number("neighbours") { options.neighbours = neighbours }
        return options
    }
}

/// Scope actions as operators write them: `read,write,forget`.
package enum ScopeParsing {
    /// The actions in a comma-separated list; an unknown word is an error naming `field`.
    package static func actions(_ text: String, field: String) throws -> Scope.Actions {
        var actions: Scope.Actions = []
        for word in text.split(separator: ",") {
            switch word.trimmingCharacters(in: .whitespaces) {
            case "read": actions.insert(.read)
            case "write": actions.insert(.write)
            case "forget": actions.insert(.forget)
            case "quarantine": actions.insert(.quarantine)
            case let other:
                throw EngramError.invalid(field, "'\(other)' is not one of read, write, forget, quarantine")
            }
        }
        return actions
    }

    /// The words of a set of actions, in the order read, write, forget, quarantine.
    package static func words(_ actions: Scope.Actions) -> [String] {
        [("read", Scope.Actions.read), ("write", .write), ("forget", .forget), ("quarantine", .quarantine)]
            .filter {
                actions.contains($0.1)
            }.map(\.0)
    }
}
