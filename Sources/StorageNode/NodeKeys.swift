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
enum NodeKeys {
    static let stamp: [UInt8] = Array("\0stamp".utf8)
    static let manifestTag: UInt8 = 0x6D  // "m"
    static let segmentTag: UInt8 = 0x73   // "s"
    static let uploadTag: UInt8 = 0x75    // "u"
    static let multipartTag: UInt8 = 0x70 // "p"
    static let partTag: UInt8 = 0x71      // "q"
    static let segmentFileTag: UInt8 = 0x66 // "f"

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

    static func manifest(bucket: String, key: String) -> [UInt8] {
        var out = [manifestTag]
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
}
