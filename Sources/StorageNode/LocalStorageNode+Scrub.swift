import ObjectModel

/// The node's scrubber: a background pass over every stored version at a configured rate, reading each segment back
/// and checking it against its manifest's digest (``NodeStore/scrub(from:budget:)``). What it finds waits in
/// ``ScrubState`` until a gateway repairs it from a healthy replica (``repairSegments``).
extension LocalStorageNode {
    /// The default pace: a full pass a week, never slower than this (small nodes are still checked within hours).
    public static let scrubFloorBytesPerSecond: Int64 = 256 * 1024
    static let week: Int64 = 7 * 24 * 3600

    /// Starts scrubbing in the background: at `bytesPerSecond`, one pass after the other; without it, a pass a week
    /// (at the stored bytes divided by a week, at least ``scrubFloorBytesPerSecond``, the next pass a week after the
    /// last began).
    public func startScrubbing(bytesPerSecond: Int64?) {
        let task = Task { [weak self] in
            var position = [UInt8]()
            var passStarted = ContinuousClock.now
            var rate = bytesPerSecond ?? Self.scrubFloorBytesPerSecond
            var failures = 0
            var lastSweep: ContinuousClock.Instant?
            var nextPass: ContinuousClock.Instant?
            while !Task.isCancelled {
                guard let self else { return }
                do {
                    // Uploads abandoned by a gateway that crashed: swept hourly, a day after they began.
                    if lastSweep.map({ ContinuousClock.now - $0 > .seconds(3600) }) ?? true {
                        lastSweep = ContinuousClock.now
                        _ = try await self.run {
                            try $0.sweepStaleUploads(startedBefore: NodeStore.wallClockMillis() - NodeStore.staleUploadMillis)
                        }
                    }
                    // Between weekly passes: wake hourly for the sweep.
                    if let next = nextPass, ContinuousClock.now < next {
                        try await Task.sleep(for: min(next - ContinuousClock.now, .seconds(3600)))
                        continue
                    }
                    nextPass = nil
                    if position.isEmpty, bytesPerSecond == nil {
                        let stored = try await self.run { try $0.counts().storedBytes }
                        rate = max(stored / Self.week, Self.scrubFloorBytesPerSecond)
                        passStarted = ContinuousClock.now
                    }
                    let step = try await self.run { [position, rate] in try $0.scrub(from: position, budget: rate) }
                    failures = 0
                    self.record(step)
                    let pause = Duration.milliseconds(max(Int64(1000) * step.cost / max(rate, 1), 50))
                    if let next = step.next {
                        position = next
                        try await Task.sleep(for: pause)
                    } else {
                        position = []
                        self.scrubbing.withLock { $0.passes += 1 }
                        // The default: the next pass a week after this one began; a set rate: a second at least.
                        if bytesPerSecond == nil {
                            nextPass = passStarted + .seconds(Self.week)
                        } else {
                            try await Task.sleep(for: max(pause, .seconds(1)))
                        }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    // Offline: try again later from where it stopped. A read of the node's records that keeps failing
                    // there (a damaged block) is counted, and after three tries the pass starts over.
                    if self.isOnline {
                        failures += 1
                        self.scrubbing.withLock { $0.failedSteps += 1 }
                        if failures >= 3 {
                            position = []
                            failures = 0
                        }
                    }
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
        scrubber.withLock { running in
            running?.cancel()
            running = task
        }
    }

    /// Adds a step's findings: new damage, and extents found healthy again (repaired by hand, or rewritten).
    func record(_ step: ScrubStep) {
        scrubbing.withLock { state in
            state.scrubbedBytes += step.bytes
            let healthy = Set(step.healthy.map { "\($0.version)/\($0.extent)" })
            state.damaged.removeAll { healthy.contains("\($0.version)/\($0.extent)") }
            var listed = Set(state.damaged.map { "\($0.version)/\($0.extent)" })
            for found in step.damaged where listed.insert("\(found.version)/\(found.extent)").inserted {
                guard state.damaged.count < ScrubState.damagedMax else {
                    state.overflow += 1
                    continue
                }
                state.damaged.append(found)
            }
        }
    }

    public func scrubState(_ jurisdiction: Jurisdiction) async throws -> ScrubState {
        try await run { try $0.check(jurisdiction) }
        return scrubbing.withLock { $0 }
    }

    /// Drops a finding: the extent is healthy now, or no longer stored.
    func clearFinding(version: VersionID, extent: VersionID) {
        scrubbing.withLock { state in
            state.damaged.removeAll { $0.version == version.description && $0.extent == extent.description }
        }
    }

    public func scrubNow(_ jurisdiction: Jurisdiction) async throws -> ScrubState {
        try await run { try $0.check(jurisdiction) }
        var position = [UInt8]()
        repeat {
            let step = try await run { [position] in try $0.scrub(from: position, budget: 64 * 1024 * 1024) }
            record(step)
            position = step.next ?? []
        } while !position.isEmpty
        return scrubbing.withLock { state in
            state.passes += 1
            return state
        }
    }

    public func segmentDigests(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                               sequence: UInt64, extent: VersionID) async throws -> ExtentDigests? {
        let digests = try await run {
            try $0.segmentDigests(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                  extent: extent)
        }
        if digests?.healthy ?? true { clearFinding(version: version, extent: extent) }
        return digests
    }
}
