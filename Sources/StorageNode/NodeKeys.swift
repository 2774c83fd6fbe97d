import ObjectModel

/// The key layout inside a node's database (documented in `Docs/formats.md`).
///
/// - `\0stamp`                         → the node's ``NodeStamp``
/// - `m` bucket `\0` key               → ``ObjectManifest`` (bucket names never contain `\0`, so keys sort per bucket)
/// - `s` version(16) index(u32 BE)     → segment bytes
/// - `u` version(16)                   → segments being written: bucket, key (swept if never committed)
/// - `f` version(16)                   → empty: the version has a segment file (``SegmentFiles``)
/// - `p` bucket `\0` key `\0` upload(16) → a multipart upload: its template manifest (metadata, upload id)
/// - `q` upload(16) part(u32 BE)       → ``PartRecord`` of an uploaded part
/// - `v` bucket `\0` key* `\0\1` ~sequence(u64 BE) ~version(16) → ``ObjectManifest`` of a noncurrent version (a
///   versioned bucket's older versions and delete markers). key* is the key with each NUL byte written `\0\xFF`, so
///   a key's versions are a contiguous run, keys sort in byte order, and each key's versions newest first (the
///   inverted sequence, then the inverted id: the order of ``ObjectManifest/isNewer(than:)``).
/// - `i` bucket `\0` key               → the listing index entry of a key (``IndexEdit``): the
///   ``ObjectManifest/listingEntry`` of its newest version, on the bucket's index replicas
/// - `o` time(u64 BE, ms) version(16) kind(u8) → an ``IndexIntent`` the drain has not delivered yet, in commit order
enum NodeKeys {
    static let stamp: [UInt8] = Array("\0stamp".utf8)
    static let manifestTag: UInt8 = 0x6D  // "m"
    static let segmentTag: UInt8 = 0x73   // "s"
    static let uploadTag: UInt8 = 0x75    // "u"
    static let multipartTag: UInt8 = 0x70 // "p"
    static let partTag: UInt8 = 0x71      // "q"
    static let segmentFileTag: UInt8 = 0x66 // "f"
    static let noncurrentTag: UInt8 = 0x76 // "v"
    static let indexTag: UInt8 = 0x69 // "i"
    static let intentTag: UInt8 = 0x6F // "o"

    /// An intent's record: its commit time, so that a node's intents are a queue in commit order.
    static func intent(_ intent: IndexIntent) -> [UInt8] {
        intents(before: intent.millis) + intent.mark.version.bytes + [intent.kind.rawValue]
    }

    /// Where the intents committed at `millis` start: those before it are a range.
    static func intents(before millis: Int64) -> [UInt8] {
        [intentTag] + (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: millis) >> (56 - 8 * $0)) }
    }

    /// The length of an intent's record key after the tag, plus one (a position just past it).
    static let intentKeyBytes = 8 + 16 + 1 + 1

    static func index(bucket: String, key: String) -> [UInt8] { record(indexTag, bucket: bucket, key: key) }

    /// First key of a bucket's listing index entries.
    static func indexPrefix(bucket: String) -> [UInt8] { [indexTag] + Array(bucket.utf8) + [0] }

    static func segmentFile(version: VersionID) -> [UInt8] { [segmentFileTag] + version.bytes }

    static func multipart(bucket: String, key: String, upload: VersionID) -> [UInt8] {
        var out = [multipartTag]
        out += bucket.utf8
        out.append(0)
        out += key.utf8
        out.append(0)
        out += upload.bytes
        return out
    }

    static func multipartPrefix(bucket: String, keyPrefix: [UInt8] = []) -> [UInt8] {
        [multipartTag] + Array(bucket.utf8) + [0] + keyPrefix
    }

    static func part(upload: VersionID, number: UInt32) -> [UInt8] {
        [partTag] + upload.bytes + [UInt8(number >> 24), UInt8((number >> 16) & 0xFF), UInt8((number >> 8) & 0xFF),
                                    UInt8(number & 0xFF)]
    }

    static func partRange(upload: VersionID) -> ([UInt8], [UInt8]) {
        let start = [partTag] + upload.bytes
        return (start, start + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    static func manifest(bucket: String, key: String) -> [UInt8] { record(manifestTag, bucket: bucket, key: key) }

    /// `tag` bucket `\0` key: the layout of a key's current manifest and of its listing index entry.
    private static func record(_ tag: UInt8, bucket: String, key: String) -> [UInt8] {
        var out = [tag]
        out.reserveCapacity(2 + bucket.utf8.count + key.utf8.count)
        out += bucket.utf8
        out.append(0)
        out += key.utf8
        return out
    }

    /// First key of a bucket's manifests that start with `keyPrefix`.
    static func manifestPrefix(bucket: String, keyPrefix: [UInt8] = []) -> [UInt8] {
        var out = [manifestTag]
        out += bucket.utf8
        out.append(0)
        out += keyPrefix
        return out
    }

    static func segment(version: VersionID, index: UInt32) -> [UInt8] {
        var out = [segmentTag]
        out.reserveCapacity(21)
        out += version.bytes
        out += [UInt8(index >> 24), UInt8((index >> 16) & 0xFF), UInt8((index >> 8) & 0xFF), UInt8(index & 0xFF)]
        return out
    }

    /// `[start, end)` of every segment of `version`.
    static func segmentRange(version: VersionID) -> ([UInt8], [UInt8]) {
        let start = [segmentTag] + version.bytes
        return (start, start + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    static func upload(version: VersionID) -> [UInt8] { [uploadTag] + version.bytes }

    /// First key of a bucket's noncurrent versions.
    static func noncurrentBucket(_ bucket: String) -> [UInt8] { [noncurrentTag] + Array(bucket.utf8) + [0] }

    /// `key` written for the noncurrent space: every NUL byte as `\0\xFF` (order-preserving, and no escaped key is a
    /// prefix of another's run once the `\0\1` terminator follows).
    static func escaped(_ key: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count + 2)
        for byte in key {
            out.append(byte)
            if byte == 0 { out.append(0xFF) }
        }
        return out
    }

    /// The run of `key`'s noncurrent versions: `[start, end)`.
    static func noncurrentRange(bucket: String, key: String) -> ([UInt8], [UInt8]) {
        let start = noncurrentBucket(bucket) + escaped(key.utf8) + [0, 1]
        return (start, start + [UInt8](repeating: 0xFF, count: 25))
    }

    /// The record of one noncurrent version.
    static func noncurrent(bucket: String, key: String, sequence: UInt64, version: VersionID) -> [UInt8] {
        let inverted = ~sequence
        return noncurrentRange(bucket: bucket, key: key).0 + (0..<8).map { UInt8(truncatingIfNeeded: inverted >> (56 - 8 * $0)) }
            + version.bytes.map { ~$0 }
    }

    static func noncurrent(_ manifest: ObjectManifest) -> [UInt8] {
        noncurrent(bucket: manifest.bucket, key: manifest.key, sequence: manifest.sequence, version: manifest.versionID)
    }
}
