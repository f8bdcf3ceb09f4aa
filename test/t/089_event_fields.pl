# Event fields Google omits (issue 13, item 12): transparency, visibility and
# event_type hold Google's defaults (opaque, default, default) when Google
# leaves them out, so queries need no COALESCE; self_response is the owner's
# own attendees[self].responseStatus (NULL when not invited), kept current by
# incremental syncs. The update from 1.0 fills both from the raw events
# already stored (data).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GcalTest;
use JSON::PP;

my $emu = GcalTest::start_emulator(data => 'demo');
my $node = GcalTest::node($emu, 'fields');

sub sql { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

# An invitation alice has not answered yet.
$emu->control('POST', '/calendars/alice%40example.com/events', { id => 'c0invite0pending000000000a', summary => 'Invitation',
	start => { dateTime => '2025-05-06T10:00:00Z' }, end => { dateTime => '2025-05-06T11:00:00Z' },
	organizer => { email => 'bob@example.com' },
	attendees => [ { email => 'bob@example.com', organizer => JSON::PP::true(), responseStatus => 'accepted' },
		{ email => 'alice@example.com', self => JSON::PP::true(), responseStatus => 'needsAction' } ] });
sql(q{SELECT gcal_link('alice', 'demo-refresh-alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: first full sync done');

sub field
{
	my ($id, $cols) = @_;
	return sql(qq{SELECT $cols FROM gcalsync.event WHERE owner = 'alice' AND event_id = '$id'});
}

my $cols = q{transparency || '|' || visibility || '|' || event_type || '|' || coalesce(self_response, 'NULL')};
is(field('3taxday00000000000000000aa', $cols), 'opaque|default|default|NULL', 'omitted fields hold Google\'s defaults; not invited: NULL');
is(field('2vacation0alice0july0000aa', $cols), 'transparent|default|default|NULL', 'transparency sent: kept');
is(field('7dentist00notimezone000000', $cols), 'opaque|private|default|NULL', 'visibility sent: kept');
is(field('a0focus0time0000000000000a', $cols), 'opaque|default|focusTime|NULL', 'event type sent: kept');
is(field('1c8v2u9k0mdlp3q4r5s6t7u8v9', $cols), 'opaque|default|default|accepted', 'self_response from attendees[self]');
is(field('c0invite0pending000000000a', 'self_response'), 'needsAction', 'self_response of an unanswered invitation');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE status <> 'cancelled'
	AND (transparency IS NULL OR visibility IS NULL OR event_type IS NULL)}), '0', 'no live event with a NULL transparency, visibility or event_type');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE self_response IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(data->'attendees') a WHERE a->>'self' = 'true')}), '0',
	'self_response only where the owner is an attendee');

# The owner declines: an incremental sync brings the new answer.
$emu->control('PATCH', '/calendars/alice%40example.com/events/c0invite0pending000000000a', { attendees => [
	{ email => 'bob@example.com', organizer => JSON::PP::true(), responseStatus => 'accepted' },
	{ email => 'alice@example.com', self => JSON::PP::true(), responseStatus => 'declined' } ] });
sql(q{SELECT gcal_sync_now('alice')});
is(sql(q{SELECT gcal_wait('alice', '60s')}), 't', 'alice: incremental sync');
is(field('c0invite0pending000000000a', 'self_response'), 'declined', 'a declined invitation is seen in self_response');
is(sql(q{SELECT count(*) FROM gcalsync.event WHERE owner = 'alice' AND status <> 'cancelled' AND self_response = 'declined'}), '1',
	'busy-time queries can leave declined invitations out without COALESCE');

# ---- the update from 1.0 fills the columns from data ---------------------------------------
# (another database: the worker serves only "postgres")
sql(q{CREATE DATABASE legacy});
sql(q{CREATE EXTENSION gcalsync VERSION '1.0'}, 'legacy');
sql(q{INSERT INTO gcalsync.event (owner, calendar_id, event_id, transparency, visibility, event_type, data) VALUES
	('u', 'c', 'e1', NULL, NULL, NULL, '{"id":"e1"}'),
	('u', 'c', 'e2', 'transparent', 'private', 'focusTime',
	 '{"id":"e2","transparency":"transparent","visibility":"private","eventType":"focusTime",
	   "attendees":[{"email":"x@example.com","responseStatus":"accepted"},{"email":"u@example.com","self":true,"responseStatus":"declined"}]}'),
	('u', 'c', 'e3', NULL, NULL, NULL, '{"id":"e3","transparency":17,"attendees":[{"self":true}]}'),
	('u', 'c', 'e4', NULL, NULL, NULL, '{"id":"e4","attendees":"not an array"}')}, 'legacy');
sql(q{ALTER EXTENSION gcalsync UPDATE}, 'legacy');
is(sql(q{SELECT string_agg(event_id || ':' || coalesce(transparency, 'NULL') || '|' || coalesce(visibility, 'NULL') || '|'
	|| coalesce(event_type, 'NULL') || '|' || coalesce(self_response, 'NULL'), ',' ORDER BY event_id) FROM gcalsync.event}, 'legacy'),
	'e1:opaque|default|default|NULL,e2:transparent|private|focusTime|declined,e3:NULL|default|default|NULL,e4:opaque|default|default|NULL',
	'the update from 1.0 fills defaults and self_response from data (a value of another type stays NULL)');

done_testing();
