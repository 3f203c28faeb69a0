import EngramCLI
import EngramTestSupport
import Foundation
import Testing

/// The CLI's JSON output on fixed memories, byte for byte as the build before the one-service change
/// printed it (`Golden/make_golden.sh`, run with that build, wrote the `.out` files).
@Suite("CLI output equal to the golden files")
struct GoldenOutputTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Golden")

    /// The cases of `commands.txt`: a name and the command's words (double quotes group words;
    /// `$here` is the golden folder).
    static func cases() throws -> [(name: String, arguments: [String])] {
        let text = try String(contentsOf: folder.appendingPathComponent("commands.txt"), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "|", maxSplits: 1).map(String.init)
            var words: [String] = []
            var word = ""
            var quoted = false
            for character in parts[1] {
                if character == "\"" {
                    quoted.toggle()
                } else if character == " " && !quoted {
                    if !word.isEmpty { words.append(word) }
                    word = ""
                } else {
                    word.append(character)
                }
            }
            if !word.isEmpty { words.append(word) }
            return (parts[0], words.map { $0.replacingOccurrences(of: "$here", with: folder.path) })
        }
    }

    @Test("every golden command prints what the earlier build printed")
    func outputsAreUnchanged() async throws {
        let memories = Self.folder.appendingPathComponent("memories.jsonl").path
        let cases = try Self.cases()
        #expect(cases.count >= 13)
        for (name, arguments) in cases {
            let cli = CLI()
            #expect(await cli.run(["init", "--embedder", "hashing"]).status == 0)
            if name != "import" { #expect(await cli.run(["import", memories]).status == 0) }
            let result = await cli.run(arguments)
            let golden = try String(
                contentsOf: Self.folder.appendingPathComponent("\(name).out"), encoding: .utf8)
            #expect(result.stdout == golden, "\(name): the output changed")
        }
    }
}
