import Glibc
import Foundation

/// A server process's data directory, private to the service: created 0700 (an existing one is narrowed to 0700),
/// and everything the process creates afterwards (databases, segment files, audit logs, sealed key state,
/// credentials) 0600 or 0700, whatever the caller's umask, so no other local user reads any of it.
enum DataDirectory {
    /// Prepares `path` and takes it for this process: a second server on the same directory stops at once, naming
    /// the process that holds it, rather than failing later inside a database or, worse, sharing its files.
    static func prepare(_ path: String) throws {
        _ = umask(0o077)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        try lock(path)
    }

    /// An exclusive `flock` on `path/.lock`, held until the process exits (the descriptor is never closed); the file
    /// names the holder's pid.
    private static func lock(_ path: String) throws {
        let file = path + "/.lock"
        let descriptor = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DataDirectoryError(description: "cannot open \(file): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: file, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw DataDirectoryError(description: "data directory \(path) is in use by another qantara process"
                + (holder.isEmpty ? "" : " (pid \(holder))") + ": stop it, or give this one another --data")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }
}

struct DataDirectoryError: Error, CustomStringConvertible {
    let description: String
}
