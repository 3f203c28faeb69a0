// `make schema`: writes openapi.json's components and version, the MCP tools' schemas and the README's
// field reference from the one wire definition (WireSchema). Run from the repository root.
import EngramSchemaFiles
import Foundation

let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
do {
    for file in try SchemaFiles.render(root: root) {
        let url = root.appendingPathComponent(file.path)
        let old = try? String(contentsOf: url, encoding: .utf8)
        if old != file.contents {
            try file.contents.write(to: url, atomically: true, encoding: .utf8)
            print("wrote \(file.path)")
        }
    }
} catch {
    FileHandle.standardError.write(Data("engram-schema: \(error)\n".utf8))
    exit(1)
}
