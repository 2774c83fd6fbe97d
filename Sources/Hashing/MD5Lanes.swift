import CMD5
import Dispatch
import Synchronization

/// Hashes the large buffers of concurrent uploads together, 16 messages at once in the 32-bit lanes of AVX-512
/// (the idea of MinIO's md5-simd). MD5 is one long dependency chain per message, so a core hashes one message at
/// about 0.6 GB/s; 16 independent messages run side by side on one core at about 8 GB/s in all.
///
/// An upload hands over a buffer (a full segment) and waits until it is hashed. A round starts as soon as a buffer
/// arrives and runs every buffer waiting, 64 KiB of each; buffers that arrive meanwhile take free lanes in the next
/// round. A round costs the same with one lane as with 16 (each step waits on the one before), so the lanes do
/// not wait for each other: measured with 16 concurrent 1 MiB PUTs, making a buffer wait up to 1, 2 or 4 ms for
/// others filled rounds only from 2.8 to 3.7 lanes on average and bought nothing (Docs/benchmarks.md).
/// Without AVX-512 nothing comes here: ``MD5Hasher`` hashes in place.
public final class MD5Lanes: Sendable {
    /// The process's lanes, one serial queue: a round occupies one core.
    public static let shared = MD5Lanes()

    /// Smallest run of whole blocks worth the trip to another thread.
    static let minimumBytes = 64 * 1024
    /// Blocks every lane hashes before waiting buffers may take free lanes (64 KiB).
    static let roundBlocks = 1024
    static let laneCount = 16

    /// Whether the 16-lane form runs here.
    public let isVector: Bool
    private let queue: DispatchQueue
    private let state = Mutex(State())

    private struct State {
        var pending: [Job] = []
        /// Whether a drain runs on `queue`.
        var running = false
        var rounds = 0
        var laneRounds = 0
    }

    /// Rounds run, and the lanes they filled in all (their ratio is how well lanes fill).
    var statistics: (rounds: Int, laneRounds: Int) { state.withLock { ($0.rounds, $0.laneRounds) } }

    /// Buffers waiting for a lane.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// One buffer's whole blocks, from `offset`, into `hasher`'s state.
    private final class Job: @unchecked Sendable {
        let hasher: MD5Hasher
        var bytes: [UInt8]
        var offset: Int
        var blocks: Int
        let continuation: CheckedContinuation<Void, Never>

        init(hasher: MD5Hasher, bytes: [UInt8], offset: Int, blocks: Int,
             continuation: CheckedContinuation<Void, Never>) {
            self.hasher = hasher
            self.bytes = bytes
            self.offset = offset
            self.blocks = blocks
            self.continuation = continuation
        }
    }

    public convenience init(vector: Bool = qantara_md5_x16_available() == 1) {
        self.init(vector: vector, queue: DispatchQueue(label: "qantara.md5-lanes"))
    }

    /// Lanes whose rounds run on `queue` (a serial queue).
    init(vector: Bool, queue: DispatchQueue) {
        isVector = vector
        self.queue = queue
    }

    /// Hashes `blocks` whole blocks of `bytes` from `offset` into `hasher`; returns when they are in its state.
    func hash(_ hasher: MD5Hasher, _ bytes: [UInt8], from offset: Int, blocks: Int) async {
        await withCheckedContinuation { continuation in
            let job = Job(hasher: hasher, bytes: bytes, offset: offset, blocks: blocks, continuation: continuation)
            let start = state.withLock { state -> Bool in
                state.pending.append(job)
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start { queue.async { self.drain() } }
        }
    }

    /// Runs rounds until no buffer is left, taking waiting buffers into free lanes between rounds.
    private func drain() {
        var lanes = [Job?](repeating: nil, count: Self.laneCount)
        while true {
            let active = state.withLock { state -> Int in
                for index in lanes.indices where lanes[index] == nil && !state.pending.isEmpty {
                    lanes[index] = state.pending.removeFirst()
                }
                let active = lanes.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
                if active == 0 { state.running = false }
                state.rounds += active == 0 ? 0 : 1
                state.laneRounds += active
                return active
            }
            guard active > 0 else { return }
            let jobs = lanes.compactMap { $0 }
            let blocks = min(Self.roundBlocks, jobs.map(\.blocks).min() ?? 0)
            if jobs.count == 1 {
                let job = jobs[0]
                job.bytes.withUnsafeBytes { raw in
                    qantara_md5_update(job.hasher.context, raw.baseAddress! + job.offset, blocks * MD5Hasher.blockBytes)
                }
            } else {
                var bases: [UnsafePointer<UInt8>] = []
                bases.reserveCapacity(jobs.count)
                Self.withBases(jobs[...], into: &bases) { bases in
                    var contexts = [OpaquePointer?](repeating: nil, count: Self.laneCount)
                    var data = [UnsafePointer<UInt8>?](repeating: nil, count: Self.laneCount)
                    for (index, job) in jobs.enumerated() {
                        contexts[index] = job.hasher.context
                        data[index] = bases[index]
                    }
                    qantara_md5_blocks_x16(contexts, data, blocks)
                }
            }
            for index in lanes.indices {
                guard let job = lanes[index] else { continue }
                job.offset += blocks * MD5Hasher.blockBytes
                job.blocks -= blocks
                guard job.blocks == 0 else { continue }
                lanes[index] = nil
                // Let go of the buffer before the upload resumes, so it is the buffer's only owner again.
                job.bytes = []
                job.continuation.resume()
            }
        }
    }

    /// The address of each job's next block, valid inside `body`.
    private static func withBases(_ jobs: ArraySlice<Job>, into bases: inout [UnsafePointer<UInt8>],
                                  _ body: ([UnsafePointer<UInt8>]) -> Void) {
        guard let job = jobs.first else { return body(bases) }
        job.bytes.withUnsafeBytes { raw in
            bases.append((raw.baseAddress! + job.offset).assumingMemoryBound(to: UInt8.self))
            withBases(jobs.dropFirst(), into: &bases, body)
        }
    }
}
