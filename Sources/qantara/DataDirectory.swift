import Glibc
import Foundation

/// A server process's data directory, private to the service: created 0700 (an existing one is narrowed to 0700),
/// and everything the process creates afterwards (databases, segment files, audit logs, sealed key state,
/// credentials) 0600 or 0700, whatever the caller's umask, so no other local user reads any of it.
enum DataDirectory {
    static func prepare(_ path: String) throws {
        _ = umask(0o077)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
    }
}
