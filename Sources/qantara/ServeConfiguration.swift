import Foundation
import KeyStore
import ObjectModel
import ObjectService
import Placement

/// Loads and validates the topology file; every failure names the file and the field.
enum TopologyLoader {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    static func load(path: String) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read topology file \(path)")
        }
        let topology: Topology
        do {
            topology = try JSONDecoder().decode(Topology.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw Invalid(description: "\(path): \(field(context.codingPath + [key])): required field is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw Invalid(description: "\(path): \(field(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw Invalid(description: "\(path): \(field(context.codingPath)): value is missing")
        } catch let DecodingError.dataCorrupted(context) {
            let location = context.codingPath.isEmpty ? "not valid JSON" : field(context.codingPath)
            throw Invalid(description: "\(path): \(location): \(context.debugDescription)")
        }
        let problems = topology.problems()
        guard problems.isEmpty else {
            throw Invalid(description: "\(path): " + problems.joined(separator: "; "))
        }
        return topology
    }

    private static func field(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "(root)" : text
    }
}

/// Root credentials: from the environment, else generated once and kept in `<data>/root-credentials` (mode 0600).
struct RootCredentials: Codable {
    var accessKeyId: String
    var secretAccessKey: String

    static func fileURL(dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("root-credentials")
    }

    static func resolve(dataDirectory: String, environment: [String: String]) throws -> (RootCredentials, generated: Bool) {
        if let key = environment["QANTARA_ROOT_ACCESS_KEY"], let secret = environment["QANTARA_ROOT_SECRET_KEY"],
           !key.isEmpty, !secret.isEmpty {
            return (RootCredentials(accessKeyId: key, secretAccessKey: secret), false)
        }
        if let stored = load(dataDirectory: dataDirectory) { return (stored, false) }
        let fresh = RootCredentials(accessKeyId: Credentials.newAccessKeyID(), secretAccessKey: Credentials.newSecret())
        let url = fileURL(dataDirectory: dataDirectory)
        let data = try JSONEncoder().encode(fresh)
        guard FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw TopologyLoader.Invalid(description: "cannot write \(url.path)")
        }
        return (fresh, true)
    }

    static func load(dataDirectory: String) -> RootCredentials? {
        guard let data = FileManager.default.contents(atPath: fileURL(dataDirectory: dataDirectory).path) else { return nil }
        return try? JSONDecoder().decode(RootCredentials.self, from: data)
    }
}

/// The secret that unseals the built-in key stores: `QANTARA_UNSEAL_SECRET`, or the file named by
/// `QANTARA_UNSEAL_SECRET_FILE`, or, for the embedded default only, `DATA/unseal-secret`, generated once (0600).
/// Production deployments keep the secret out of the data directory (a secret manager, an operator at start).
enum UnsealSecret {
    static func resolve(dataDirectory: String, environment: [String: String], allowGenerated: Bool) throws
        -> (secret: [UInt8], source: String)
    {
        if let value = environment["QANTARA_UNSEAL_SECRET"], !value.isEmpty {
            return (Array(value.utf8), "QANTARA_UNSEAL_SECRET")
        }
        if let path = environment["QANTARA_UNSEAL_SECRET_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
                throw TopologyLoader.Invalid(description: "QANTARA_UNSEAL_SECRET_FILE: cannot read \(path) or it is empty")
            }
            var bytes = Array(data)
            while bytes.last == 0x0A || bytes.last == 0x0D { bytes.removeLast() }
            return (bytes, path)
        }
        let path = dataDirectory + "/unseal-secret"
        if let data = FileManager.default.contents(atPath: path), !data.isEmpty { return (Array(data), path) }
        guard allowGenerated else {
            throw TopologyLoader.Invalid(description: "no unseal secret: set QANTARA_UNSEAL_SECRET or QANTARA_UNSEAL_SECRET_FILE")
        }
        let fresh = Data(Credentials.newSecret().utf8)
        guard FileManager.default.createFile(atPath: path, contents: fresh, attributes: [.posixPermissions: 0o600]) else {
            throw TopologyLoader.Invalid(description: "cannot write \(path)")
        }
        return (Array(fresh), path + " (generated)")
    }
}

/// The first administrators of a key store, made at its first start (the key ceremony) and written one file each
/// (mode 0600, directory 0700) for the people who will hold them: `<directory>/<J>-admin-<n>.json`.
enum BootstrapAdministrators {
    /// How many a new key store gets: two, so that the default quorum of two can be met.
    static let count = 2

    /// Creates `store`'s first administrators if it has none; returns the files written.
    static func ensure(_ store: KeyStore, directory: String) throws -> [String] {
        let created = try store.bootstrapAdministrators(count: count)
        guard !created.isEmpty else { return [] }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try created.map { credentials in
            let path = directory + "/\(credentials.name).json"
            guard FileManager.default.createFile(atPath: path, contents: try encoder.encode(credentials),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw TopologyLoader.Invalid(description: "cannot write \(path)")
            }
            return path
        }
    }
}
