import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineFailure, swarmError } from '../../../src/swarm/errors.ts';
import { UserError } from '../../../src/util/errors.ts';

// The engine's own messages (moby daemon/cluster/errors.go and swarmkit), as dockerode raises them.
const dockerode = (statusCode: number, message: string): Error & { statusCode: number; json: { message: string } } =>
  Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message} `), { statusCode, json: { message } });

const WHERE = 'the engine at DOCKER_HOST=unix:///x.sock';

test('engineFailure keeps the engine text, without the dockerode prefix', () => {
  assert.deepEqual(engineFailure(dockerode(503, 'This node is not a swarm manager.')), { statusCode: 503, message: 'This node is not a swarm manager.' });
  assert.equal(engineFailure(new Error('(HTTP code 500) server error - boom')).message, 'boom');
  assert.equal(engineFailure('plain').message, 'plain');
});

test('a worker engine: say it is a worker and where the managers are', () => {
  const e = swarmError(dockerode(503, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."), WHERE, 'swarm nodes');
  assert.ok(e instanceof UserError);
  assert.equal(e.message, `swarm nodes: ${WHERE} is a swarm worker, not a manager`);
  assert.match(e.hint!, /DOCKER_HOST at a manager/);
});

test('an engine in no swarm: say so and how to create or join one', () => {
  const e = swarmError(dockerode(503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'), WHERE, 'swarm join-token');
  assert.equal(e?.message, `swarm join-token: ${WHERE} is not part of a swarm`);
  assert.match(e!.hint!, /modelship swarm init/);
});

test('init on an engine already in a swarm', () => {
  const e = swarmError(dockerode(503, 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.'), WHERE, 'swarm init');
  assert.equal(e?.message, `swarm init: ${WHERE} is already part of a swarm`);
  assert.match(e!.hint!, /swarm leave --force/);
});

test('several addresses: ask for --advertise-addr, quoting the engine', () => {
  const msg = 'could not choose an IP address to advertise since this system has multiple addresses on interface eth0 (10.0.0.2 and 10.0.0.3)';
  const e = swarmError(dockerode(400, msg), WHERE, 'swarm init');
  assert.match(e!.hint!, /--advertise-addr/);
  assert.ok(e!.hint!.includes('10.0.0.2 and 10.0.0.3'));
});

test('port 2377 taken, or the nodes cannot reach each other: name the ports to open', () => {
  const bind = swarmError(dockerode(500, 'listen tcp 0.0.0.0:2377: bind: address already in use'), WHERE, 'swarm init');
  assert.match(bind!.message, /cannot listen for the swarm: listen tcp 0\.0\.0\.0:2377/);
  assert.match(bind!.hint!, /2377\/tcp .*7946\/tcp\+udp .*4789\/udp/);
  const unreachable = swarmError(dockerode(500, 'Timeout was reached before node joined. The attempt to join the swarm will continue in the background.'), WHERE, 'swarm join');
  assert.match(unreachable!.message, /could not reach the other swarm nodes/);
  assert.match(unreachable!.hint!, /open 2377\/tcp/);
});

test('an unrelated engine error is not dressed up as a swarm condition', () => {
  assert.equal(swarmError(dockerode(500, 'no space left on device'), WHERE, 'swarm init'), undefined);
});
