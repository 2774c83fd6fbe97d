import Foundation
@testable import Hashing
import XCTest

final class MD5Tests: XCTestCase {
    /// RFC 1321, appendix A.5.
    func testRFC1321Suite() {
        let suite = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
            (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (message, digest) in suite {
            XCTAssertEqual(MD5Hasher.hash(Array(message.utf8)).map { String(format: "%02x", $0) }.joined(), digest, message)
        }
    }

    /// Every length around the padding's edges (55, 56, 63, 64 bytes into a block), fed in uneven pieces, agrees
    /// with OpenSSL.
    func testAgreesWithOpenSSLAtEveryEdge() {
        let data = pseudoRandom(count: 300, seed: 1)
        for length in 0...data.count {
            let message = Array(data[..<length])
            let hasher = MD5Hasher()
            var offset = 0, piece = 1
            while offset < length {
                let end = min(length, offset + piece)
                message[offset..<end].withUnsafeBytes { hasher.update($0) }
                offset = end
                piece = piece * 3 % 71 + 1
            }
            XCTAssertEqual(hasher.finalize(), StreamingDigest.hash(.md5, message), "length \(length)")
        }
    }

    /// Uploads hashing at once share rounds; each digest equals OpenSSL's over the same bytes, whatever the
    /// buffers' sizes (not all whole blocks), the part hashed in place before and after, and the lanes each
    /// buffer found free.
    func testConcurrentUploadsThroughLanes() async throws {
        // The rounds wait until every upload's first buffer is queued, so the first round is full whatever the
        // scheduling; later buffers find lanes as they come.
        let queue = DispatchQueue(label: "test.md5-lanes")
        let lanes = MD5Lanes(vector: MD5Lanes.shared.isVector, queue: queue)
        queue.suspend()
        let uploads = 40
        // The bytes are made first: making them inside the tasks spread the uploads out in time.
        let inputs = (0..<uploads).map(uploadInput)
        let results = try await withThrowingTaskGroup(of: (Int, [UInt8], [UInt8]).self) { group in
            for (upload, input) in inputs.enumerated() {
                group.addTask {
                    let hasher = MD5Hasher()
                    let reference = StreamingDigest(.md5)
                    input.head.withUnsafeBytes { hasher.update($0) }
                    reference.update(input.head)
                    for bytes in input.buffers {
                        await hasher.update(bytes, lanes: lanes)
                        reference.update(bytes)
                    }
                    return (upload, hasher.finalize(), reference.finalize())
                }
            }
            if lanes.isVector {
                let deadline = ContinuousClock.now + .seconds(30)
                while lanes.pendingCount < uploads, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                XCTAssertEqual(lanes.pendingCount, uploads)
            }
            queue.resume()
            var all: [(Int, [UInt8], [UInt8])] = []
            for try await result in group { all.append(result) }
            return all
        }
        XCTAssertEqual(results.count, uploads)
        for (upload, digest, reference) in results { XCTAssertEqual(digest, reference, "upload \(upload)") }
        let (rounds, laneRounds) = lanes.statistics
        if lanes.isVector {
            XCTAssertGreaterThan(rounds, 0)
            // 40 uploads at once on two cores: rounds must have shared lanes.
            XCTAssertGreaterThan(laneRounds, rounds)
        } else {
            XCTAssertEqual(rounds, 0, "without AVX-512 buffers are hashed in place")
        }
    }

    /// The fallback hashes in place and gives the same digests.
    func testLanesWithoutVectorHashInPlace() async {
        let lanes = MD5Lanes(vector: false)
        let bytes = pseudoRandom(count: 300_000, seed: 9)
        let hasher = MD5Hasher()
        await hasher.update(bytes, lanes: lanes)
        XCTAssertEqual(hasher.finalize(), StreamingDigest.hash(.md5, bytes))
        XCTAssertEqual(lanes.statistics.rounds, 0)
    }

    /// A buffer's storage is the caller's only again once `update` returns: no copy on the next write.
    func testBufferIsUniquelyOwnedAfterwards() async {
        let lanes = MD5Lanes()
        var bytes = pseudoRandom(count: 1 << 20, seed: 3)
        let before = bytes.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        let hasher = MD5Hasher()
        await hasher.update(bytes, lanes: lanes)
        bytes[0] ^= 1
        XCTAssertEqual(bytes.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, before)
    }

}

/// Upload `upload`'s bytes: a few hashed in place first (so buffers start mid-block for some uploads), then one to
/// four buffers not all of whole blocks, each large enough to go to the lanes even after completing a partial block.
private func uploadInput(_ upload: Int) -> (head: [UInt8], buffers: [[UInt8]]) {
    let head = pseudoRandom(count: upload % 3 == 0 ? 0 : 17 * upload, seed: UInt64(upload))
    var buffers: [[UInt8]] = []
    for buffer in 0..<(1 + upload % 4) {
        let size = MD5Lanes.minimumBytes + 64 + 64 * 1024 * ((upload + buffer) % 5) + (upload * 131) % 200
        buffers.append(pseudoRandom(count: size, seed: UInt64(upload * 10 + buffer)))
    }
    return (head, buffers)
}

private func pseudoRandom(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}
