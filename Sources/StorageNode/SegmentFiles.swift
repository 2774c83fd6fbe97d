import CGlibc
import Foundation
import ObjectModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A node's large segments as files, one per version (`<root>/<first byte of the version, hex>/<version, hex>`),
/// segment `i` in slot `i` at `i × slotBytes`: an 8-byte header (`u32` length, `u32` length XOR a check word) and the
/// segment's stored bytes. A slot never written reads as zeros, whose header does not check: absent.
///
/// Reads go straight from the page cache into the buffer the gateway decrypts from, and can be tried without
/// waiting for the disk (`preadv2` with `RWF_NOWAIT`), so a cached segment is read on the caller's thread; RocksDB's
/// blob files cost a second copy and always a thread hop. Writes are not synced; ``sync(_:)`` makes a version's
/// segments durable (data and directory entries), which a commit does before the record that names them.
///
/// The node's database says which files are live (``NodeKeys/segmentFile(version:)``): a file is removed only once
/// its key's deletion is durable, and a file without a key (a crash between the two) is removed when the node opens.
public final class SegmentFiles: Sendable {
    public let root: String
    static let headerBytes = 8
    static let slotBytes = headerBytes + Limits.segmentSizeBytes + Limits.segmentOverheadBytesMax
    private static let check: UInt32 = 0x5153_4547  // "QSEG"

    /// Versions written since they were last synced, and directories whose entries changed since then, each with
    /// the generation of its last change: a sync clears only what did not change again while it ran.
    private struct Unsynced {
        var versions = [VersionID: UInt64]()
        var directories = [String: UInt64]()
        var generation: UInt64 = 0

        mutating func mark(version: VersionID) {
            generation += 1
            versions[version] = generation
        }

        mutating func mark(directory: String) {
            generation += 1
            directories[directory] = generation
        }
    }

    private let unsynced = Mutex(Unsynced())

    public init(root: String) throws {
        self.root = root
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw NodeError.io("create \(root): \(error.localizedDescription)")
        }
    }

    private func directory(_ version: VersionID) -> String {
        root + "/" + Hex.encode([version.bytes[0]])
    }

    private func path(_ version: VersionID) -> String {
        directory(version) + "/" + version.description
    }

    /// Writes segment `index` of `version` (not synced).
    public func write(_ version: VersionID, index: UInt32, bytes: [UInt8]) throws {
        precondition(bytes.count <= Limits.segmentSizeBytes + Limits.segmentOverheadBytesMax, "segment too large")
        let path = self.path(version)
        var created = true
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0, errno == ENOENT {
            // The version's directory does not exist yet.
            let directory = self.directory(version)
            if mkdir(directory, 0o700) == 0 {
                unsynced.withLock { $0.mark(directory: root) }
            } else if errno != EEXIST {
                throw Self.failure("create \(directory)")
            }
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        if fd < 0, errno == EEXIST {
            created = false
            fd = open(path, O_WRONLY | O_CLOEXEC)
        }
        guard fd >= 0 else { throw Self.failure("open \(path)") }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: Self.headerBytes)
        let length = UInt32(bytes.count)
        withUnsafeBytes(of: length.bigEndian) { header.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: (length ^ Self.check).bigEndian) { header.replaceSubrange(4..<8, with: $0) }
        let offset = off_t(index) * off_t(Self.slotBytes)
        let written = header.withUnsafeBytes { head in
            bytes.withUnsafeBytes { body in
                var vectors = [iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                               iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)]
                return pwritev(fd, &vectors, 2, offset)
            }
        }
        guard written == Self.headerBytes + bytes.count else { throw Self.failure("write \(path)") }
        unsynced.withLock { state in
            state.mark(version: version)
            if created { state.mark(directory: directory(version)) }
        }
    }

    /// What a read found.
    enum Read<R> {
        case found(R)
        case absent
        /// `cachedOnly` and the bytes are not all in the page cache.
        case needsIO
    }

    /// Runs `body` over segment `index` of `version`. With `cachedOnly`, answers `.needsIO` rather than wait for
    /// the disk.
    func read<R>(_ version: VersionID, index: UInt32, cachedOnly: Bool, _ body: (UnsafeRawBufferPointer) throws -> R)
        throws -> Read<R>
    {
        let path = self.path(version)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .absent }
            throw Self.failure("open \(path)")
        }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slotBytes, alignment: 16)
        defer { buffer.deallocate() }
        let offset = off_t(index) * off_t(Self.slotBytes)
        var count: Int
        repeat {
            count = cachedOnly ? qantara_pread_cached(fd, buffer.baseAddress, buffer.count, offset)
                               : pread(fd, buffer.baseAddress, buffer.count, offset)
        } while count < 0 && errno == EINTR
        if count < 0 {
            if cachedOnly, errno == EAGAIN || errno == EOPNOTSUPP { return .needsIO }
            throw Self.failure("read \(path)")
        }
        guard count >= Self.headerBytes else { return cachedOnly && count > 0 ? .needsIO : .absent }
        let length = UInt32(bigEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let check = UInt32(bigEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard length ^ Self.check == check, Int(length) <= Self.slotBytes - Self.headerBytes else { return .absent }
        guard count >= Self.headerBytes + Int(length) else {
            if cachedOnly { return .needsIO }
            throw NodeError.corrupt("segment \(index) of \(version) is cut short in \(path)")
        }
        let segment = UnsafeRawBufferPointer(rebasing: buffer[Self.headerBytes..<(Self.headerBytes + Int(length))])
        return .found(try body(segment))
    }

    /// Whether any of `versions` has writes not yet synced (cheap: no I/O).
    func hasUnsynced(_ versions: some Sequence<VersionID>) -> Bool {
        unsynced.withLock { state in versions.contains { state.versions[$0] != nil } }
    }

    /// Makes the written segments of `versions`, and every new file's directory entry, durable.
    public func sync(_ versions: some Sequence<VersionID>) throws {
        let (pending, directories) = unsynced.withLock { state -> ([(VersionID, UInt64)], [(String, UInt64)]) in
            let pending = versions.compactMap { version in state.versions[version].map { (version, $0) } }
            return (pending, state.directories.map { ($0.key, $0.value) })
        }
        for (version, _) in pending {
            let path = self.path(version)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { continue }  // removed since: nothing left to make durable
                throw Self.failure("open \(path)")
            }
            defer { close(fd) }
            guard fdatasync(fd) == 0 else { throw Self.failure("sync \(path)") }
        }
        // Subdirectories before the root, whose entries name them.
        for (directory, _) in directories.sorted(by: { $0.0.count > $1.0.count }) {
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.failure("open \(directory)") }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw Self.failure("sync \(directory)") }
        }
        unsynced.withLock { state in
            for (version, generation) in pending where state.versions[version] == generation {
                state.versions[version] = nil
            }
            for (directory, generation) in directories where state.directories[directory] == generation {
                state.directories[directory] = nil
            }
        }
    }

    /// Removes a version's file (a missing one is fine).
    func remove(_ version: VersionID) throws {
        let path = self.path(version)
        guard unlink(path) == 0 || errno == ENOENT else { throw Self.failure("remove \(path)") }
        unsynced.withLock { $0.versions[version] = nil }
    }

    /// Slots a version's file spans (its segments, when written in order, as writers do); 0 without a file.
    func slotCount(_ version: VersionID) -> Int {
        var status = stat()
        guard stat(path(version), &status) == 0 else { return 0 }
        return (Int(status.st_size) + Self.slotBytes - 1) / Self.slotBytes
    }

    /// Every version that has a file.
    func versions() throws -> [VersionID] {
        var found = [VersionID]()
        let manager = FileManager.default
        for directory in (try? manager.contentsOfDirectory(atPath: root)) ?? [] where directory.count == 2 {
            for name in try manager.contentsOfDirectory(atPath: root + "/" + directory) {
                if let bytes = Hex.decode(name), let version = VersionID(bytes: bytes) { found.append(version) }
            }
        }
        return found
    }

    private static func failure(_ what: String) -> NodeError {
        .io("\(what): \(String(cString: strerror(errno)))")
    }
}
