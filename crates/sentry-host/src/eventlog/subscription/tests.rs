use super::*;
use crate::eventlog::scripted::{
    Call, PROVIDER_WITHOUT_MESSAGE_1, PROVIDER_WITHOUT_MESSAGE_FILE, PROVIDER_WITHOUT_METADATA, ScriptedApi,
    record_ids,
};

fn source(api: &ScriptedApi, start_at: StartAt, batch_size: u32) -> SubscriptionSource<ScriptedApi> {
    let options = LiveOptions { start_at, batch_size, ..LiveOptions::default() };
    SubscriptionSource::new(api.clone(), "Security", options)
}

/// The record ids of a batch's events, and `0` for each gap.
fn ids(batch: &Batch) -> Vec<u64> {
    record_ids(&batch.items)
}

/// A batch's events (a gap or damage fails the test).
fn events(batch: &Batch) -> Vec<&SourceEvent> {
    batch
        .items
        .iter()
        .map(|item| match item {
            SourceItem::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        })
        .collect()
}

#[test]
fn now_starts_after_the_newest_record_and_then_reads_every_new_event_once() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "Microsoft-Windows-Security-Auditing", 4624);
    let mut source = source(&api, StartAt::Now, 100);
    let start = source.start_position().unwrap();
    assert_eq!(bookmark_record_id(&start), Some(3), "{start}");
    let empty = source.read(&start, 1000).unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.position, start);
    api.append_many(2, "Microsoft-Windows-Security-Auditing", 4625);
    let batch = source.read(&empty.position, 1000).unwrap();
    assert_eq!(ids(&batch), [4, 5]);
    assert!(!batch.more);
    assert_eq!(bookmark_record_id(&batch.position), Some(5));
    api.append_many(1, "Microsoft-Windows-Security-Auditing", 4634);
    assert_eq!(ids(&source.read(&batch.position, 1000).unwrap()), [6]);
    assert_eq!(
        (api.calls(Call::Query), api.calls(Call::Subscribe)),
        (1, 1),
        "one query, one subscription kept open"
    );
}

#[test]
fn oldest_on_an_empty_log_and_last_id_start_where_they_say() {
    let api = ScriptedApi::new("Security");
    let mut oldest = source(&api, StartAt::Oldest, 100);
    let start = oldest.start_position().unwrap();
    assert_eq!(start, OLDEST);
    api.append_many(4, "P", 1);
    assert_eq!(ids(&oldest.read(&start, 1000).unwrap()), [1, 2, 3, 4]);

    let mut after = source(&api, StartAt::AfterRecord(2), 100);
    let start = after.start_position().unwrap();
    assert_eq!(ids(&after.read(&start, 1000).unwrap()), [3, 4]);
}

#[test]
fn a_read_stops_at_max_and_the_next_goes_on_from_its_position() {
    let api = ScriptedApi::new("Security");
    api.append_many(25, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 4);
    let first = source.read(OLDEST, 10).unwrap();
    assert_eq!(ids(&first), (1..=10).collect::<Vec<_>>());
    assert!(first.more);
    let second = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second), (11..=25).collect::<Vec<_>>());
    assert!(!second.more);
}

#[test]
fn a_position_the_caller_could_not_keep_is_read_again_from() {
    let api = ScriptedApi::new("Security");
    api.append_many(6, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let first = source.read(OLDEST, 3).unwrap();
    assert_eq!(ids(&first), [1, 2, 3]);
    // The caller failed to store the batch and passes the old position again.
    let again = source.read(OLDEST, 3).unwrap();
    assert_eq!(ids(&again), [1, 2, 3]);
    assert_eq!(ids(&source.read(&again.position, 10).unwrap()), [4, 5, 6]);
}

#[test]
fn a_batch_too_large_halves_the_batch_and_loses_nothing() {
    let api = ScriptedApi::new("Security");
    api.append_many(70, "P", 1);
    api.set_max_batch(30);
    let mut source = source(&api, StartAt::Oldest, 100);
    let batch = source.read(OLDEST, 1000).unwrap();
    assert_eq!(ids(&batch), (1..=70).collect::<Vec<_>>());
    assert_eq!(source.batch_size(), 25, "100 -> 50 -> 25");
    // The service serves large batches again: after GROW_AFTER whole batches the size doubles.
    api.set_max_batch(1024);
    api.append_many(u64::from(GROW_AFTER) * 25, "P", 1);
    let batch = source.read(&batch.position, 100_000).unwrap();
    assert_eq!(batch.items.len(), GROW_AFTER as usize * 25);
    assert_eq!(source.batch_size(), 50, "25 -> 50");
}

#[test]
fn a_stale_or_moved_result_set_resubscribes_from_the_bookmark() {
    for code in [codes::EVT_QUERY_RESULT_STALE, codes::EVT_QUERY_RESULT_INVALID_POSITION, codes::NOT_FOUND] {
        let api = ScriptedApi::new("Security");
        api.append_many(5, "P", 1);
        let mut source = source(&api, StartAt::Oldest, 2);
        let first = source.read(OLDEST, 3).unwrap();
        api.fail_next(Call::Next, code);
        let second = source.read(&first.position, 100).unwrap();
        assert_eq!([ids(&first), ids(&second)].concat(), [1, 2, 3, 4, 5], "code {code}");
        assert_eq!(api.calls(Call::Subscribe), 2, "code {code}");
    }
}

#[test]
fn no_items_invalid_operation_and_timeout_end_a_read_and_keep_the_subscription() {
    // How Windows answers a poll with nothing waiting: 259, and as often 4317 (or 1460).
    for code in [codes::NO_MORE_ITEMS, codes::INVALID_OPERATION, codes::TIMEOUT] {
        let api = ScriptedApi::new("Security");
        api.append_many(2, "P", 1);
        let mut source = source(&api, StartAt::Oldest, 100);
        api.fail_next(Call::Next, code);
        let batch = source.read(OLDEST, 100).unwrap();
        assert!(batch.items.is_empty(), "code {code}");
        assert_eq!(batch.position, OLDEST);
        assert_eq!(ids(&source.read(&batch.position, 100).unwrap()), [1, 2]);
        assert_eq!(api.calls(Call::Subscribe), 1, "code {code}: the subscription is kept");
    }
}

#[test]
fn a_subscription_giving_nothing_while_the_log_grows_is_replaced_after_a_minute() {
    let api = ScriptedApi::new("Security");
    api.append_many(2, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first), [1, 2]);
    // Quiet, and nothing new in the log: the subscription is kept however long it lasts.
    for _ in 0..3 {
        api.advance_clock(STALL_CHECK_AFTER);
        assert!(source.read(&first.position, 100).unwrap().items.is_empty());
    }
    assert_eq!(api.subscriptions(), ["oldest"], "a quiet log is no stall");
    assert_eq!(api.calls(Call::Query), 2, "the newest record asked for once a minute");
    // Broken under us (4317 for good) while events arrive.
    api.stall_subscriptions();
    api.append_many(3, "P", 1);
    let quiet = source.read(&first.position, 100).unwrap();
    assert!(quiet.items.is_empty());
    api.advance_clock(STALL_CHECK_AFTER / 2);
    assert!(source.read(&quiet.position, 100).unwrap().items.is_empty());
    assert_eq!(api.subscriptions(), ["oldest"], "not before a minute");
    api.advance_clock(STALL_CHECK_AFTER / 2);
    // The check finds records past the position: read again at once, by a new subscription.
    let stalled = source.read(&quiet.position, 100).unwrap();
    assert!(stalled.items.is_empty() && stalled.more);
    let batch = source.read(&quiet.position, 100).unwrap();
    assert_eq!(ids(&batch), [3, 4, 5]);
    assert_eq!(api.subscriptions(), ["oldest", "after 2 strict"]);
}

#[test]
fn the_wait_for_a_stall_doubles_while_new_subscriptions_give_nothing_either() {
    let api = ScriptedApi::new("Security");
    let mut source = source(&api, StartAt::Oldest, 100);
    api.set_stalled(true);
    api.append_many(2, "P", 1);
    let mut replaced_after = Vec::new();
    let mut waited = 0;
    for _ in 0..40 {
        let before = api.subscriptions().len();
        let batch = source.read(OLDEST, 100).unwrap();
        assert!(batch.items.is_empty());
        if api.subscriptions().len() > before && before > 0 {
            replaced_after.push(waited);
            waited = 0;
        }
        api.advance_clock(STALL_CHECK_AFTER);
        waited += 1;
    }
    // Minutes quiet before each replacement (counted from the read that made the subscription).
    assert_eq!(replaced_after[..4], [2, 3, 5, 9], "{replaced_after:?}");
    // A service that serves again: the events come, and the wait is a minute again.
    api.set_stalled(false);
    api.advance_clock(STALL_CHECK_AFTER * 64);
    let (mut got, mut position) = (Vec::new(), OLDEST.to_owned());
    for _ in 0..3 {
        let batch = source.read(&position, 100).unwrap();
        got.extend(ids(&batch));
        position = batch.position;
    }
    assert_eq!(got, [1, 2]);
}

#[test]
fn a_now_start_whose_filtered_search_times_out_starts_after_the_newest_record() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Now, 100);
    api.fail_next(Call::Query, codes::TIMEOUT);
    let start = source.start_position().unwrap();
    assert_eq!(bookmark_record_id(&start), Some(3), "{start}");
    assert_eq!(api.calls(Call::Query), 2, "the filtered search, then the newest of any kind");
    api.append_many(1, "P", 1);
    assert_eq!(ids(&source.read(&start, 100).unwrap()), [4]);
}

#[test]
fn strict_refusing_a_record_the_lookup_found_resumes_after_its_id_without_a_gap() {
    // Windows may judge a Strict bookmark against the query's results (1168), and forwarded
    // event logs answer 15011: the record is in the log, so reading goes on after it.
    let refusals: [&[u32]; 2] = [&[codes::NOT_FOUND], &[codes::EVT_QUERY_RESULT_STALE; 2]];
    for refusal in refusals {
        let api = ScriptedApi::new("Security");
        api.append_many(3, "P", 1);
        let mut first = source(&api, StartAt::Oldest, 100);
        let read = first.read(OLDEST, 100).unwrap();
        api.append_many(2, "P", 1);
        let mut restarted = source_after_restart(&api);
        for &code in refusal {
            api.fail_next(Call::Subscribe, code);
        }
        let batch = restarted.read(&read.position, 100).unwrap();
        assert_eq!(ids(&batch), [4, 5], "{refusal:?}: no gap, nothing again");
        let strict = vec!["after 3 strict".to_owned(); refusal.len()];
        assert_eq!(
            api.subscriptions(),
            [&["oldest".to_owned()][..], &strict, &["after 3".to_owned()]].concat()
        );
    }
    // The record looked up again once subscribed, and that lookup cannot tell (it fails, or
    // finds the record gone): passed over from the oldest record, no gap, nothing read again.
    for second_lookup in [codes::EVT_QUERY_RESULT_STALE, 1722] {
        let api = ScriptedApi::new("Security");
        api.append_many(3, "P", 1);
        let read = source(&api, StartAt::Oldest, 100).read(OLDEST, 100).unwrap();
        api.append_many(2, "P", 1);
        api.fail_next(Call::Subscribe, codes::NOT_FOUND);
        api.fail_after(Call::Lookup, 1, second_lookup);
        let batch = source_after_restart(&api).read(&read.position, 100).unwrap();
        assert_eq!(ids(&batch), [4, 5], "second lookup failing with {second_lookup}");
        assert_eq!(api.subscriptions(), ["oldest", "after 3 strict", "after 3", "oldest"]);
    }
    // A record the lookup did not find is left to Strict: a gap, and the oldest on.
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let read = source(&api, StartAt::Oldest, 100).read(OLDEST, 100).unwrap();
    api.roll_over(3);
    api.append_many(2, "P", 1);
    let batch = source_after_restart(&api).read(&read.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 4, 5]);
}

#[test]
fn a_bookmark_of_another_channel_is_a_bad_position_not_a_new_start() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let other = bookmark_xml("System", 2);
    assert!(matches!(source.read(&other, 10), Err(SourceError::BadPosition(_))));
    assert_eq!(api.calls(Call::Subscribe), 0, "nothing subscribed from a foreign bookmark");
    // The channel's own bookmark, in any case and with escaped characters, is taken.
    let own = bookmark_xml("SECURITY", 1);
    assert_eq!(ids(&source.read(&own, 10).unwrap()), [2, 3]);
    let api = ScriptedApi::new("Kraken & Co's");
    api.append_many(2, "P", 1);
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut source = SubscriptionSource::new(api.clone(), "Kraken & Co's", options);
    assert_eq!(ids(&source.read(&bookmark_xml("Kraken & Co's", 1), 10).unwrap()), [2]);
}

#[test]
fn a_structured_query_is_taken_only_when_it_reads_the_sources_channel() {
    let own = "<QueryList><Query Id='0' Path='Security'><Select Path='security'>*</Select>\
               <Suppress Path='Security'>*[System[(EventID=4662)]]</Suppress></Query></QueryList>";
    let two = "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*</Select>\
               <Select Path='System'>*</Select></Query></QueryList>";
    // A source given one anyway (a configuration the factory would refuse) reads nothing.
    let api = ScriptedApi::new("Security");
    api.append_many(2, "P", 1);
    let options = LiveOptions { query: two.into(), start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut source = SubscriptionSource::new(api.clone(), "Security", options);
    let error = source.read(OLDEST, 10).unwrap_err();
    assert!(
        matches!(&error, SourceError::Config(text) if text.contains("one logger per channel")),
        "{error:?}"
    );
    let options = LiveOptions { query: two.into(), ..LiveOptions::default() };
    let mut now = SubscriptionSource::new(api.clone(), "Security", options);
    assert!(matches!(now.start_position(), Err(SourceError::Config(_))));
    assert_eq!(api.calls(Call::Subscribe), 0, "no subscription, no query");
    // One of its own channel is read as an XPath filter is, its position checked the same way.
    let options = LiveOptions { query: own.into(), start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut source = SubscriptionSource::new(api.clone(), "Security", options.clone());
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first), [1, 2]);
    assert!(Position::parse(&first.position).time_created.is_some(), "{}", first.position);
    api.append_many(1, "P", 1);
    let mut restarted = SubscriptionSource::new(api.clone(), "Security", options);
    assert_eq!(ids(&restarted.read(&first.position, 100).unwrap()), [3]);
    assert_eq!(api.calls(Call::Lookup), 1);
}

#[test]
fn a_bookmark_whose_record_is_gone_resumes_at_the_oldest_with_a_gap() {
    let api = ScriptedApi::new("Security");
    api.append_many(10, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let first = source.read(OLDEST, 3).unwrap();
    assert_eq!(ids(&first), [1, 2, 3]);
    api.roll_over(5); // records 1..=5 overwritten
    api.fail_next(Call::Next, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 6, 7, 8, 9, 10], "a gap, then the oldest records left");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(3));
    assert!(gap.reason.contains("no longer in the log"), "{}", gap.reason);

    // The same after a restart: a new source given a stale bookmark.
    api.clear();
    api.append_many(2, "P", 1);
    let mut restarted = source_after_restart(&api);
    let batch = restarted.read(&bookmark_xml("Security", 10), 100).unwrap();
    assert_eq!(ids(&batch), [0, 11, 12]);
}

#[test]
fn a_gap_is_reported_once_even_when_the_read_then_resubscribes() {
    let api = ScriptedApi::new("Security");
    api.append_many(10, "P", 1);
    api.roll_over(8); // a restart's bookmark at record 5: gone
    api.set_max_batch(30); // the batch of 100 is halved twice, resubscribing each time
    let mut restarted = source(&api, StartAt::Oldest, 100);
    let batch = restarted.read(&bookmark_xml("Security", 5), 100).unwrap();
    assert_eq!(ids(&batch), [0, 9, 10], "one gap, then the records left");
    assert_eq!(restarted.batch_size(), 25);
    assert_eq!(api.calls(Call::Subscribe), 4, "the bookmark, then the oldest three times");

    // Nothing read after the gap: the next read starts at the oldest record, with no new gap.
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    api.clear();
    let mut restarted = source(&api, StartAt::Oldest, 100);
    let batch = restarted.read(&bookmark_xml("Security", 2), 100).unwrap();
    assert_eq!((ids(&batch), batch.position.as_str()), (vec![0], OLDEST));
    api.append_many(1, "P", 1);
    assert_eq!(ids(&restarted.read(&batch.position, 100).unwrap()), [4]);
}

#[test]
fn a_bookmark_that_fails_once_with_a_stale_result_is_subscribed_again() {
    let api = ScriptedApi::new("Security");
    api.append_many(6, "P", 1);
    let mut restarted = source(&api, StartAt::Oldest, 100);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_STALE);
    assert_eq!(ids(&restarted.read(&bookmark_xml("Security", 4), 100).unwrap()), [5, 6]);
    assert_eq!(api.calls(Call::Subscribe), 2, "the bookmark twice, no query, no oldest");
}

#[test]
fn a_bookmark_windows_will_not_resume_after_reads_on_from_the_oldest_without_a_repeat() {
    for code in [codes::EVT_QUERY_RESULT_STALE, codes::EVT_QUERY_RESULT_INVALID_POSITION] {
        let api = ScriptedApi::new("Security");
        api.append_many(10, "P", 1);
        let mut restarted = source(&api, StartAt::Oldest, 3);
        api.fail_next(Call::Subscribe, code);
        api.fail_next(Call::Subscribe, code);
        let bookmark = bookmark_xml("Security", 5);
        let first = restarted.read(&bookmark, 2).unwrap();
        assert_eq!(ids(&first), [6, 7], "code {code}: records up to the bookmark passed over");
        assert_eq!(bookmark_record_id(&first.position), Some(7));
        let second = restarted.read(&first.position, 100).unwrap();
        assert_eq!(ids(&second), [8, 9, 10], "code {code}");
    }
}

#[test]
fn passing_over_a_bookmark_keeps_it_as_the_position_until_a_later_event_is_read() {
    let api = ScriptedApi::new("Security");
    api.append_many(2_500, "P", 1);
    let mut restarted = source(&api, StartAt::Oldest, 1000);
    let bookmark = bookmark_xml("Security", 2_500);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    let first = restarted.read(&bookmark, 100).unwrap();
    assert!(first.items.is_empty() && !first.more);
    assert_eq!(first.position, bookmark, "nothing after the bookmark read yet");
    assert_eq!(api.calls(Call::Render), 0, "passed over by their bookmarks, not rendered");
    assert_eq!(api.calls(Call::Bookmark), 3, "one bookmark per batch of 1,000");
    api.append_many(2, "P", 1);
    let second = restarted.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second), [2_501, 2_502]);
    assert_eq!(
        api.subscriptions(),
        ["after 2500 strict", "after 2500 strict", "oldest"],
        "twice the bookmark, the oldest once"
    );
    assert_eq!(api.calls(Call::Query), 1, "the newest record");
}

#[test]
fn a_structured_query_of_its_channel_is_passed_over_by_ids_like_a_filter() {
    let api = ScriptedApi::new("Security");
    api.append_many(4, "P", 1);
    let query =
        "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*</Select></Query></QueryList>";
    let options = LiveOptions { query: query.into(), ..LiveOptions::default() };
    let mut restarted = SubscriptionSource::new(api.clone(), "Security", options);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_STALE);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_STALE);
    let batch = restarted.read(&bookmark_xml("Security", 2), 100).unwrap();
    assert_eq!(ids(&batch), [3, 4], "nothing read twice, nothing lost");
}

#[test]
fn passing_over_never_gives_more_than_a_read_may() {
    let api = ScriptedApi::new("Security");
    api.append_many(9, "P", 1);
    let mut restarted = source(&api, StartAt::Oldest, 3);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    // The batch 4..=6 straddles nothing passed over but is taken whole: 6 waits.
    let first = restarted.read(&bookmark_xml("Security", 3), 2).unwrap();
    assert_eq!((ids(&first), first.more), (vec![4, 5], true));
    assert_eq!(bookmark_record_id(&first.position), Some(5));
    let second = restarted.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second), [6, 7, 8, 9], "the rest once");
}

#[test]
fn passing_over_a_bookmark_names_the_records_gone_since() {
    let api = ScriptedApi::new("Security");
    api.append_many(10, "P", 1);
    api.roll_over(7); // records 1..=7 overwritten; the bookmark is at 5
    let mut restarted = source(&api, StartAt::Oldest, 100);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    let batch = restarted.read(&bookmark_xml("Security", 5), 100).unwrap();
    assert_eq!(ids(&batch), [0, 8, 9, 10]);
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(5));
    assert!(gap.reason.contains("records 6 to 7 of Security"), "{}", gap.reason);

    // A filtered query does not read every id in turn: no gap can be told from the ids.
    let options = LiveOptions { query: "*[System[EventID=1]]".into(), ..LiveOptions::default() };
    let mut filtered = SubscriptionSource::new(api.clone(), "Security", options);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    assert_eq!(ids(&filtered.read(&bookmark_xml("Security", 5), 100).unwrap()), [8, 9, 10]);
}

#[test]
fn a_bookmark_newer_than_every_record_after_such_a_failure_reads_the_log_again_after_a_gap() {
    // A log cleared since the bookmark, whose record ids began again.
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut restarted = source(&api, StartAt::Oldest, 100);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_STALE);
    api.fail_next(Call::Subscribe, codes::EVT_QUERY_RESULT_STALE);
    let batch = restarted.read(&bookmark_xml("Security", 500), 100).unwrap();
    assert_eq!(ids(&batch), [0, 1, 2, 3]);
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(500));
    assert!(gap.reason.contains("holds no record as new as it"), "{}", gap.reason);
}

fn source_after_restart(api: &ScriptedApi) -> SubscriptionSource<ScriptedApi> {
    source(api, StartAt::Now, 100)
}

#[test]
fn an_unavailable_log_is_reported_and_nothing_else_is_called() {
    let api = ScriptedApi::new("Security");
    api.set_available(false);
    let mut source = source(&api, StartAt::Now, 100);
    let error = source.start_position().unwrap_err();
    assert!(matches!(error, SourceError::Unavailable(_)), "{error:?}");
    assert!(source.read(OLDEST, 10).unwrap_err().to_string().starts_with("event log unavailable"));
    assert_eq!(api.calls(Call::Subscribe) + api.calls(Call::Render) + api.calls(Call::Bookmark), 0);
}

#[test]
fn configuration_errors_and_transient_failures_are_told_apart() {
    let api = ScriptedApi::new("Security");
    api.append_many(2, "P", 1);
    let mut wrong = SubscriptionSource::new(api.clone(), "Secrity", LiveOptions::default());
    let error = wrong.read(OLDEST, 10).unwrap_err();
    assert_eq!(error, SourceError::Config("no event log channel \"Secrity\"".into()));
    let mut source = source(&api, StartAt::Oldest, 100);
    api.fail_next(Call::Subscribe, codes::EVT_INVALID_QUERY);
    assert!(matches!(source.read(OLDEST, 10), Err(SourceError::Config(_))));
    api.fail_next(Call::Subscribe, codes::ACCESS_DENIED);
    assert!(source.read(OLDEST, 10).unwrap_err().to_string().contains("access to the Security log denied"));
    api.fail_next(Call::Subscribe, codes::EVT_SUBSCRIPTION_TO_DIRECT_CHANNEL);
    let error = source.read(OLDEST, 10).unwrap_err();
    assert!(matches!(&error, SourceError::Config(text) if text.contains("Analytic or Debug")), "{error:?}");
    api.fail_next(Call::Subscribe, 1722);
    assert!(matches!(source.read(OLDEST, 10), Err(SourceError::Transient(_))));
    assert!(matches!(source.read("garbage", 10), Err(SourceError::BadPosition(_))));
    assert_eq!(ids(&source.read(OLDEST, 10).unwrap()), [1, 2], "it reads once the failure passed");
}

#[test]
fn a_failure_after_some_events_keeps_them_and_the_next_read_resubscribes() {
    // The first EvtNext works, the second fails with an error the rules do not handle.
    let api2 = ScriptedApi::new("Security");
    api2.append_many(4, "P", 1);
    let mut source = super::SubscriptionSource::new(
        FailSecondNext { inner: api2.clone(), nexts: 0 },
        "Security",
        LiveOptions { start_at: StartAt::Oldest, batch_size: 2, ..LiveOptions::default() },
    );
    let first = source.read(OLDEST, 10).unwrap();
    assert_eq!(ids(&first), [1, 2]);
    assert!(first.more);
    let second = source.read(&first.position, 10).unwrap();
    assert_eq!(ids(&second), [3, 4]);
    assert_eq!(api2.calls(Call::Subscribe), 2);
}

/// Scripted API whose second `EvtNext` fails with an error the rules do not handle.
struct FailSecondNext {
    inner: ScriptedApi,
    nexts: usize,
}

impl SubscriptionApi for FailSecondNext {
    type Subscription = <ScriptedApi as SubscriptionApi>::Subscription;
    type Event = <ScriptedApi as SubscriptionApi>::Event;
    fn open_log(&mut self, channel: &str) -> Result<(), ApiError> {
        self.inner.open_log(channel)
    }
    fn subscribe(
        &mut self,
        c: &str,
        q: &str,
        from: SubscribeFrom<'_>,
    ) -> Result<Self::Subscription, ApiError> {
        self.inner.subscribe(c, q, from)
    }
    fn next(
        &mut self,
        s: &mut Self::Subscription,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Self::Event>, ApiError> {
        self.nexts += 1;
        if self.nexts == 2 {
            return Err(ApiError { call: "EvtNext", code: 1722 });
        }
        self.inner.next(s, max, wait)
    }
    fn render(&mut self, e: &Self::Event) -> Result<String, ApiError> {
        self.inner.render(e)
    }
    fn bookmark(&mut self, e: &[Self::Event]) -> Result<String, ApiError> {
        self.inner.bookmark(e)
    }
    fn newest_bookmark(&mut self, c: &str, q: &str) -> Result<Option<String>, ApiError> {
        self.inner.newest_bookmark(c, q)
    }
    fn bookmarked_event(&mut self, c: &str, b: &str) -> Result<Option<FoundEvent>, ApiError> {
        self.inner.bookmarked_event(c, b)
    }
    fn format_message(&mut self, p: &str, e: &Self::Event) -> Result<String, ApiError> {
        self.inner.format_message(p, e)
    }
    fn account_lookup(&self) -> LookupFn {
        self.inner.account_lookup()
    }
}

#[test]
fn render_failures_are_damage_items_and_the_read_goes_on() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    api.fail_next(Call::Render, 15005);
    let batch = source.read(OLDEST, 10).unwrap();
    assert_eq!(ids(&batch), [u64::MAX, 2, 3]);
    assert_eq!(bookmark_record_id(&batch.position), Some(3));
    let SourceItem::Damage(damage) = &batch.items[0] else { unreachable!() };
    assert_eq!(damage.record_id, Some(1), "the damage names its record, from its bookmark");
    assert!(damage.error.starts_with("record 1 of Security cannot be rendered"), "{}", damage.error);
}

#[test]
fn messages_and_accounts_are_looked_up_once_per_provider_or_sid() {
    let api = ScriptedApi::new("Security");
    api.append_many(2, PROVIDER_WITHOUT_METADATA, 1);
    api.append_many(2, "Microsoft-Windows-Security-Auditing", 4624);
    let mut source = source(&api, StartAt::Oldest, 100);
    // A budget that a machine slowed by other tests cannot spend before the answer comes.
    source.accounts.set_budget(Duration::from_secs(30));
    let batch = source.read(OLDEST, 10).unwrap();
    let events = events(&batch);
    assert_eq!(events[0].message, None);
    assert_eq!(events[3].message.as_deref(), Some("Scripted message of record 4."));
    assert_eq!(api.calls(Call::FormatMessage), 3, "the provider without metadata is asked once");
    assert_eq!(events[0].account, Some(("NT AUTHORITY".into(), "SYSTEM".into())));
    assert_eq!(api.calls(Call::LookupAccount), 1);
}

#[test]
fn a_provider_whose_metadata_cannot_be_opened_for_any_reason_is_not_asked_again_at_once() {
    let api = ScriptedApi::new("Application");
    api.append_many(3, PROVIDER_WITHOUT_MESSAGE_FILE, 1000);
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut source = SubscriptionSource::new(api.clone(), "Application", options);
    let batch = source.read(OLDEST, 10).unwrap();
    assert_eq!(batch.items.len(), 3);
    assert!(batch.items.iter().all(|item| matches!(item, SourceItem::Event(e) if e.message.is_none())));
    assert_eq!(api.calls(Call::FormatMessage), 1, "asked for the first event only");
}

#[test]
fn a_slow_account_lookup_holds_a_read_up_for_its_budget_only_and_serves_the_next_read() {
    let api = ScriptedApi::new("Security");
    for n in 0..5 {
        api.set_sid(&format!("S-1-5-21-1-2-3-{n}"));
        api.append("P", 4624, "logon");
    }
    api.set_sid(crate::eventlog::scripted::KNOWN_SID);
    api.append("P", 4624, "logon");
    api.set_account_delay(Duration::from_secs(3));
    let mut source = source(&api, StartAt::Oldest, 100);
    source.accounts.set_budget(Duration::from_millis(100));
    let started = Instant::now();
    let batch = source.read(OLDEST, 100).unwrap();
    let took = started.elapsed();
    assert_eq!(batch.items.len(), 6, "every event read");
    assert!(took < Duration::from_millis(2500), "the read waited {took:?} for 3 s lookups");
    assert!(events(&batch).iter().all(|event| event.account.is_none()));
    // The next read, with a budget longer than the lookup in hand, finds SYSTEM's name.
    source.accounts.set_budget(Duration::from_secs(30));
    api.append("P", 4624, "logon");
    let next = source.read(&batch.position, 100).unwrap();
    assert_eq!(events(&next)[0].account, Some(("NT AUTHORITY".into(), "SYSTEM".into())));
}

#[test]
fn a_sid_without_an_account_is_asked_again_after_ten_minutes_by_the_log_s_clock() {
    let api = ScriptedApi::new("Security");
    api.set_sid("S-1-5-21-1-2-3-500");
    api.append("P", 4624, "logon");
    let mut source = source(&api, StartAt::Oldest, 100);
    source.accounts.set_budget(Duration::from_secs(30));
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(events(&first)[0].account, None);
    assert_eq!(api.calls(Call::LookupAccount), 1);
    api.append("P", 4624, "logon");
    let second = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second).len(), 1);
    assert_eq!(api.calls(Call::LookupAccount), 1, "a failure is remembered");
    api.advance_clock(crate::eventlog::accounts::ACCOUNT_RETRY);
    api.append("P", 4624, "logon");
    assert_eq!(ids(&source.read(&second.position, 100).unwrap()).len(), 1);
    assert_eq!(api.calls(Call::LookupAccount), 2, "and asked again after 10 minutes");
}

#[test]
fn an_event_id_whose_message_cannot_be_formatted_is_not_asked_again_at_once() {
    let api = ScriptedApi::new("Application");
    api.append_many(3, PROVIDER_WITHOUT_MESSAGE_1, 1);
    api.append_many(2, PROVIDER_WITHOUT_MESSAGE_1, 2);
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut source = SubscriptionSource::new(api.clone(), "Application", options);
    let batch = source.read(OLDEST, 10).unwrap();
    let messages: Vec<Option<&str>> =
        events(&batch).into_iter().map(|event| event.message.as_deref()).collect();
    assert_eq!(
        messages,
        [None, None, None, Some("Scripted message of record 4."), Some("Scripted message of record 5.")]
    );
    assert_eq!(api.calls(Call::FormatMessage), 3, "event id 1 asked once, event id 2 for each event");
}

#[test]
fn attributes_are_found_in_either_quote_style() {
    let id = "<EventID Qualifiers='16384'>7036</EventID>";
    assert_eq!(element(&format!("<System>{id}<Version>1</Version>"), "<EventID", "</EventID>"), Some(id));
    assert_eq!(element("<Version/><Level>", "<Version", "</Version>"), Some("<Version/>"));
    assert_eq!(element("<EventRecordID>5</EventRecordID>", "<EventID", "</EventID>"), None);
    assert_eq!(attribute_of("<a><Provider Name='X-Y' Guid='{1}'/>", "<Provider", "Name"), Some("X-Y"));
    assert_eq!(attribute_of("<Provider EventSourceName=\"S\" Name=\"N\"/>", "<Provider", "Name"), Some("N"));
    assert_eq!(attribute_of("<Security/>", "<Security", "UserID"), None);
    assert_eq!(bookmark_record_id(&bookmark_xml("Sec'urity", 42)), Some(42));
}

#[test]
fn a_log_cleared_and_grown_past_the_bookmark_is_read_again_from_its_oldest_record() {
    let api = ScriptedApi::new("Security");
    api.append_many(5, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first), [1, 2, 3, 4, 5]);
    let kept = Position::parse(&first.position);
    assert_eq!(bookmark_record_id(kept.bookmark), Some(5));
    assert_eq!(kept.time_created, Some("2023-11-14T22:13:25.1234567Z"), "{}", first.position);
    // While the agent was away: the log cleared (ids begin again) and 8 events written.
    api.clear_and_begin_ids_again();
    api.append_many(8, "P", 1);
    let mut restarted = source_after_restart(&api);
    let batch = restarted.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 1, 2, 3, 4, 5, 6, 7, 8], "a gap, then every record of the log");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(5));
    assert!(gap.reason.contains("cleared and has grown past it"), "{}", gap.reason);
    assert_eq!(api.calls(Call::Lookup), 1);
    // A bookmark saved without its event's time (an earlier version) cannot be told apart: the
    // record with its id is taken for the one read, as `Strict` alone does.
    let bare = Position::parse(&first.position).bookmark;
    assert_eq!(ids(&source_after_restart(&api).read(bare, 100).unwrap()), [6, 7, 8]);
}

#[test]
fn a_position_after_an_event_that_renders_nowhere_keeps_when_it_was_read() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    // The newest event renders nowhere: neither in the subscription, nor where it is looked up.
    let first = source.read(OLDEST, 2).unwrap();
    assert_eq!(api.make_newest_unrenderable(13), Some(3));
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch), [u64::MAX]);
    let kept = Position::parse(&batch.position);
    assert_eq!((bookmark_record_id(kept.bookmark), kept.time_created), (Some(3), None));
    assert!(kept.read_by.is_some(), "{}", batch.position);
    // Record 3 still the one read, and still not rendering: no evidence, no pause (a lookup
    // that fails otherwise pauses reading), and nothing again.
    api.append_many(1, "P", 1);
    let next = source_after_restart(&api).read(&batch.position, 100).unwrap();
    assert_eq!(ids(&next), [4]);
    // The log cleared and grown past id 3: record 3 is an event created after record 3 was read.
    api.clear_and_begin_ids_again();
    api.append_many(4, "P", 1);
    let batch = source_after_restart(&api).read(&batch.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 1, 2, 3, 4], "a gap, then every record of the log");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert!(gap.reason.contains("which could not be rendered"), "{}", gap.reason);
}

#[test]
fn records_that_render_nowhere_neither_pause_a_start_nor_a_resume() {
    // A `now` start at a record that cannot be rendered: the time it was read by, no pause.
    let api = ScriptedApi::new("Security");
    api.append_many(1, "P", 1);
    assert_eq!(api.make_newest_unrenderable(13), Some(1));
    let mut source = source(&api, StartAt::Now, 100);
    let start = source.start_position().unwrap();
    assert!(Position::parse(&start).read_by.is_some(), "{start}");
    api.append_many(1, "P", 1);
    let batch = source.read(&start, 100).unwrap();
    assert_eq!(ids(&batch), [2]);
    // The record read last gone, the seek finds a neighbour that cannot be rendered: no
    // evidence either way, no pause; `Strict` finds the record gone and says so.
    api.roll_over(2);
    api.append_many(1, "P", 1);
    assert_eq!(api.make_newest_unrenderable(13), Some(3));
    let next = source_after_restart(&api).read(&batch.position, 100).unwrap();
    assert_eq!(ids(&next), [0, u64::MAX], "a gap, then the damage of record 3");
}

#[test]
fn the_record_read_last_still_in_the_log_is_read_on_after() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Now, 100);
    let start = source.start_position().unwrap();
    assert_eq!(Position::parse(&start).time_created, Some("2023-11-14T22:13:23.1234567Z"), "{start}");
    api.append_many(2, "P", 1);
    let mut restarted = source_after_restart(&api);
    let batch = restarted.read(&start, 100).unwrap();
    assert_eq!(ids(&batch), [4, 5]);
    api.append_many(1, "P", 1);
    let mut restarted = source_after_restart(&api);
    assert_eq!(ids(&restarted.read(&batch.position, 100).unwrap()), [6]);
    // A "now" start cleared and grown past before the first read: nothing of it passed over.
    api.clear_and_begin_ids_again();
    api.append_many(4, "P", 1);
    assert_eq!(ids(&source_after_restart(&api).read(&start, 100).unwrap()), [0, 1, 2, 3, 4]);
}

#[test]
fn a_failed_lookup_of_the_bookmarked_record_keeps_the_position_then_resumes_unchecked() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 100);
    let first = source.read(OLDEST, 2).unwrap();
    // Unchecked, the resume would pass over a cleared log's new records: the read fails, the
    // position stays, and the next read checks and resumes.
    api.fail_next(Call::Lookup, 1722);
    let mut restarted = source_after_restart(&api);
    let error = restarted.read(&first.position, 100).unwrap_err();
    assert!(
        matches!(&error, SourceError::Transient(e) if e.contains("reading of Security paused")),
        "{error:?}"
    );
    assert_eq!(ids(&restarted.read(&first.position, 100).unwrap()), [3]);
    assert_eq!(api.calls(Call::Lookup), 2);
    // Failing LOOKUP_ATTEMPTS times over LOOKUP_RETRY_FOR (none here), it no longer stops reading.
    let mut restarted = source_after_restart(&api);
    restarted.lookup_retry_for = Duration::ZERO;
    for attempt in 1..LOOKUP_ATTEMPTS {
        api.fail_next(Call::Lookup, 1722);
        assert!(restarted.read(&first.position, 100).is_err(), "attempt {attempt}");
    }
    api.fail_next(Call::Lookup, 1722);
    assert_eq!(
        ids(&restarted.read(&first.position, 100).unwrap()),
        [3],
        "a check that fails for long stops nothing"
    );
}

#[test]
fn a_lookup_that_says_the_record_is_gone_leaves_it_to_strict() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let first = source(&api, StartAt::Oldest, 100).read(OLDEST, 2).unwrap();
    for code in [codes::NOT_FOUND, codes::EVT_QUERY_RESULT_INVALID_POSITION] {
        api.fail_next(Call::Lookup, code);
        assert_eq!(ids(&source_after_restart(&api).read(&first.position, 100).unwrap()), [3], "{code}");
    }
}

#[test]
fn a_start_whose_record_cannot_be_looked_up_is_tried_again() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let mut source = source(&api, StartAt::Now, 100);
    api.fail_next(Call::Lookup, 1722);
    assert!(matches!(source.start_position(), Err(SourceError::Transient(_))));
    let start = source.start_position().unwrap();
    assert!(Position::parse(&start).time_created.is_some(), "the start keeps its record's time: {start}");
}

#[test]
fn times_are_compared_as_instants_not_as_text() {
    // Windows 7 writes nine fraction digits, later versions seven: the same instant.
    let bookmark = bookmark_xml("Security", 2);
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let written_by_windows_7 = "2023-11-14T22:13:22.123456700Z";
    let saved =
        Position { bookmark: &bookmark, time_created: Some(written_by_windows_7), read_by: None }.to_string();
    assert_eq!(ids(&source_after_restart(&api).read(&saved, 100).unwrap()), [3]);
    // Another instant is another event; a time that does not parse is no evidence.
    let other =
        Position { bookmark: &bookmark, time_created: Some("2023-11-14T22:13:22.1234568Z"), read_by: None };
    assert_eq!(ids(&source_after_restart(&api).read(&other.to_string(), 100).unwrap()), [0, 1, 2, 3]);
    let garbled = Position { bookmark: &bookmark, time_created: Some("yesterday"), read_by: None };
    assert_eq!(ids(&source_after_restart(&api).read(&garbled.to_string(), 100).unwrap()), [3]);
}

#[test]
fn a_record_gone_is_left_to_strict_and_a_last_id_start_keeps_its_records_time() {
    let api = ScriptedApi::new("Security");
    api.append_many(6, "P", 1);
    let mut source = source(&api, StartAt::AfterRecord(4), 100);
    let start = source.start_position().unwrap();
    assert_eq!(Position::parse(&start).time_created, Some("2023-11-14T22:13:24.1234567Z"), "{start}");
    // Record 4 overwritten: the lookup finds record 5, no evidence; `Strict` finds it gone.
    api.roll_over(4);
    let batch = source.read(&start, 100).unwrap();
    assert_eq!(ids(&batch), [0, 5, 6]);
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert!(gap.reason.contains("no longer in the log"), "{}", gap.reason);
    // A last_id the log does not hold yet keeps no time.
    let mut ahead = source_after_restart(&api);
    ahead.options.start_at = StartAt::AfterRecord(99);
    assert_eq!(Position::parse(&ahead.start_position().unwrap()).time_created, None);
}

#[test]
fn a_position_keeps_its_time_after_the_bookmark_and_reads_back() {
    let bookmark = bookmark_xml("Security", 7);
    let position =
        Position { bookmark: &bookmark, time_created: Some("2026-12-05T04:06:27.1234567Z"), read_by: None };
    let text = position.to_string();
    assert!(text.starts_with(&bookmark) && text.ends_with("TimeCreated='2026-12-05T04:06:27.1234567Z' -->"));
    assert_eq!(Position::parse(&text), position);
    assert_eq!(bookmark_record_id(&text), Some(7));
    assert_eq!(
        Position::parse(&bookmark),
        Position { bookmark: &bookmark, time_created: None, read_by: None }
    );
    assert_eq!(Position::parse(OLDEST), Position { bookmark: OLDEST, time_created: None, read_by: None });
}

#[test]
fn records_overwritten_before_an_open_subscription_gave_them_make_a_gap() {
    // Kept open between reads: at the oldest record (a start at `oldest`), and after a bookmark.
    for start_at in [StartAt::Oldest, StartAt::Now] {
        let api = ScriptedApi::new("Security");
        api.append_many(4, "P", 1);
        let mut source = source(&api, start_at, 100);
        let start = source.start_position().unwrap();
        let first = source.read(&start, 2).unwrap();
        api.append_many(6, "P", 1);
        // The reader fell behind a full log: records up to 7 overwritten, 3..=7 never given.
        api.roll_over(7);
        let batch = source.read(&first.position, 100).unwrap();
        let given = if start_at == StartAt::Oldest { 2 } else { 4 };
        assert_eq!(ids(&batch), [0, 8, 9, 10], "{start_at:?}: a gap, then the records left");
        let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
        assert_eq!(gap.last_record_id, Some(given), "{start_at:?}");
        assert_eq!(api.calls(Call::Subscribe), 3, "{start_at:?}: {:?}", api.subscriptions());
    }
}

#[test]
fn records_a_kept_subscription_passes_over_unsaid_make_a_gap_where_they_were() {
    // Should Windows not answer 15011 for them (undocumented for a subscription kept open), the
    // ids tell: a gap before the first event past them, after the last one given, in the batch
    // and between batches.
    let api = ScriptedApi::new("Security");
    api.set_silent_overwrites(true);
    api.append_many(4, "P", 1);
    let mut source = source(&api, StartAt::Oldest, 3);
    let first = source.read(OLDEST, 2).unwrap();
    assert_eq!(ids(&first), [1, 2]);
    api.append_many(6, "P", 1);
    api.roll_over(7); // 3..=7 never given
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 8, 9, 10]);
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(2));
    assert!(gap.reason.starts_with("records 3 to 7 of Security were not given by Windows"), "{}", gap.reason);
    assert_eq!(api.calls(Call::Subscribe), 1, "kept open: {:?}", api.subscriptions());

    // Records read in turn, in several batches and reads, make none.
    api.append_many(7, "P", 1);
    let read = source.read(&batch.position, 2).unwrap();
    assert_eq!(ids(&read), [11, 12]);
    assert_eq!(ids(&source.read(&read.position, 100).unwrap()), [13, 14, 15, 16, 17]);

    // A filtered query does not read every id: no gap is made from them.
    let api = ScriptedApi::new("Security");
    api.set_silent_overwrites(true);
    api.append_many(2, "P", 1);
    let options = LiveOptions {
        start_at: StartAt::Oldest,
        query: "*[System[EventID=1]]".into(),
        ..LiveOptions::default()
    };
    let mut filtered = SubscriptionSource::new(api.clone(), "Security", options);
    let first = filtered.read(OLDEST, 100).unwrap();
    api.append_many(4, "P", 1);
    api.roll_over(4);
    assert_eq!(ids(&filtered.read(&first.position, 100).unwrap()), [5, 6]);
}

#[test]
fn a_subscription_without_strict_is_not_kept_once_past_its_bookmark() {
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let read = source(&api, StartAt::Oldest, 100).read(OLDEST, 100).unwrap();
    api.append_many(2, "P", 1);
    // Strict refuses the record the lookup finds (a filtered query on some versions).
    api.fail_next(Call::Subscribe, codes::NOT_FOUND);
    let mut restarted = source(&api, StartAt::Now, 100);
    let batch = restarted.read(&read.position, 100).unwrap();
    assert_eq!(ids(&batch), [4, 5]);
    // Left open, it would pass over records overwritten before it gave them unsaid: the next
    // read subscribes Strict after the bookmark it reached, which tells.
    api.append_many(3, "P", 1);
    api.roll_over(6);
    let next = restarted.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&next), [0, 7, 8]);
    assert_eq!(api.subscriptions(), ["oldest", "after 3 strict", "after 3", "after 5 strict", "oldest"]);
}

#[test]
fn records_overwritten_before_anything_was_read_make_a_gap_too() {
    // A `now` start on an empty log: the subscription at the oldest record has no bookmark to
    // check, only Strict's notice.
    let api = ScriptedApi::new("Security");
    let mut source = source(&api, StartAt::Now, 100);
    let start = source.start_position().unwrap();
    assert_eq!(start, OLDEST);
    let empty = source.read(&start, 100).unwrap();
    assert!(empty.items.is_empty());
    api.append_many(5, "P", 1);
    api.roll_over(3);
    // The log still rolling, the new subscription is answered so too (15012): the gap the kept
    // subscription's answer made stays (that one answered for records lost since the last read).
    api.fail_after(Call::Next, 1, codes::EVT_QUERY_RESULT_INVALID_POSITION);
    let batch = source.read(&empty.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 4, 5]);
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, None);
    assert!(gap.reason.contains("overwritten or cleared before they were read"), "{}", gap.reason);
    assert_eq!(api.subscriptions(), ["oldest", "oldest", "oldest"]);
}

#[test]
fn strict_refused_at_the_oldest_record_subscribes_without_it_that_once_and_does_not_keep_it() {
    for code in [codes::NOT_FOUND, codes::EVT_QUERY_RESULT_STALE, codes::EVT_QUERY_RESULT_INVALID_POSITION] {
        let api = ScriptedApi::new("Security");
        api.append_many(3, "P", 1);
        let mut source = source(&api, StartAt::Oldest, 100);
        api.fail_next(Call::Subscribe, code);
        let first = source.read(OLDEST, 100).unwrap();
        assert_eq!(ids(&first), [1, 2, 3], "{code}");
        api.append_many(1, "P", 1);
        assert_eq!(ids(&source.read(&first.position, 100).unwrap()), [4], "{code}");
        assert_eq!(api.subscriptions(), ["oldest", "oldest lenient", "after 3 strict"], "{code}: not kept");
    }
}

#[test]
fn a_subscription_without_strict_waiting_for_a_record_after_its_bookmark_is_not_kept() {
    // A filtered query: records missing after the bookmark cannot be told by their ids.
    let api = ScriptedApi::new("Security");
    api.append_many(3, "P", 1);
    let options = LiveOptions { query: "*[System[EventID=1]]".into(), ..LiveOptions::default() };
    let read = SubscriptionSource::new(api.clone(), "Security", options.clone()).read(OLDEST, 100).unwrap();
    api.fail_next(Call::Subscribe, codes::NOT_FOUND);
    let mut restarted = SubscriptionSource::new(api.clone(), "Security", options);
    let nothing = restarted.read(&read.position, 100).unwrap();
    assert!(nothing.items.is_empty());
    // Kept open, it would give 5 after 3 unsaid; the next read finds the bookmarked record gone.
    api.append_many(2, "P", 1);
    api.roll_over(4);
    assert_eq!(ids(&restarted.read(&nothing.position, 100).unwrap()), [0, 5]);
    assert_eq!(api.subscriptions(), ["oldest", "after 3 strict", "after 3", "after 3 strict", "oldest"]);
}

#[test]
fn a_channel_answering_every_strict_subscription_15011_is_read_without_strict_and_no_gap() {
    // As forwarded-event logs were found to answer: every event once, no false gap, no loop.
    for start_at in [StartAt::Oldest, StartAt::Now] {
        let api = ScriptedApi::new("ForwardedEvents");
        api.append_many(3, "P", 1);
        api.set_strict_noisy(true);
        let options = LiveOptions { start_at, ..LiveOptions::default() };
        let mut source = SubscriptionSource::new(api.clone(), "ForwardedEvents", options);
        let start = source.start_position().unwrap();
        api.append_many(2, "P", 1);
        let first = source.read(&start, 100).unwrap();
        let expected: &[u64] = if start_at == StartAt::Oldest { &[1, 2, 3, 4, 5] } else { &[4, 5] };
        assert_eq!(ids(&first), expected, "{start_at:?}: {:?}", api.subscriptions());
        assert!(!first.more, "{start_at:?}");
        api.append_many(2, "P", 1);
        let before = api.subscriptions().len();
        // The record is found, then its second lookup answers 15011 (busy forwarded logs): no
        // reason to read the log again.
        api.fail_after(Call::Lookup, 1, codes::EVT_QUERY_RESULT_STALE);
        let next = source.read(&first.position, 100).unwrap();
        assert_eq!(ids(&next), [6, 7], "{start_at:?}: {:?}", api.subscriptions());
        // For the next 10 minutes reads begin without Strict: no probe, the record looked up.
        assert_eq!(api.subscriptions()[before..], ["after 5"], "{start_at:?}");
        // The channel heals: once that time is over, Strict again, kept between reads.
        api.set_strict_noisy(false);
        api.advance_clock(STRICT_NOISY_FOR);
        api.append_many(1, "P", 1);
        let healed = source.read(&next.position, 100).unwrap();
        assert_eq!(ids(&healed), [8]);
        let made = api.calls(Call::Subscribe);
        api.append_many(1, "P", 1);
        assert_eq!(ids(&source.read(&healed.position, 100).unwrap()), [9]);
        assert_eq!(api.calls(Call::Subscribe), made, "{start_at:?}: kept open");
    }
}

#[test]
fn a_kept_subscriptions_notice_keeps_its_gap_when_new_ones_turn_out_noise() {
    // A Strict subscription at the oldest record kept through a quiet read; the channel then
    // both loses records and answers every Strict subscription 15011.
    let api = ScriptedApi::new("Security");
    let mut source = source(&api, StartAt::Now, 100);
    let start = source.start_position().unwrap();
    let empty = source.read(&start, 100).unwrap();
    api.append_many(5, "P", 1);
    api.roll_over(3);
    api.set_strict_noisy(true);
    let batch = source.read(&empty.position, 100).unwrap();
    assert_eq!(ids(&batch), [0, 4, 5], "the kept subscription's gap stays; then read without Strict");
    assert_eq!(api.subscriptions(), ["oldest", "oldest", "oldest", "oldest lenient"]);
}
