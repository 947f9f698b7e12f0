#!/usr/bin/env node
// An MQTT.js client for tidemq's WebSocket tests, driven by test_ws.py.
//
//   node mqttjs_client.js '<json options>'
//
// options: url (ws://… or wss://…), mode, topic, payload, protocolVersion (3 | 4 | 5),
// ca (PEM file for wss), clientId, timeoutMs (default 10000)
//
// modes
//   roundtrip    connect, subscribe `topic` at QoS 1, publish `payload` at QoS 1 and wait for it
//                to come back (QoS 1, same bytes)
//   subscribe    connect, subscribe at QoS 1, print "READY" and wait for one message on `topic`;
//                print "MESSAGE <qos> <payload>" and exit
//   publish      connect, publish `payload` at QoS 1 to `topic`, wait for the PUBACK
//   refused      the connection must fail (no CONNACK); print "REFUSED <reason>"
//
// Exit code: 0 = as expected, 1 = something else happened (printed on stderr), 2 = timed out.
// Every wait is bounded by timeoutMs.
'use strict';

const fs = require('fs');
const mqtt = require('mqtt');

const opts = JSON.parse(process.argv[2] || '{}');
const timeoutMs = opts.timeoutMs || 10000;
const topic = opts.topic || 'mqttjs/test';
const payload = opts.payload || 'hello from MQTT.js';

let client = null;
let finished = false;

function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) (code === 0 ? process.stdout : process.stderr).write(message + '\n');
  const exit = () => process.exit(code);
  if (client) {
    client.end(true, {}, exit);
    setTimeout(exit, 1000).unref();
  } else {
    exit();
  }
}

setTimeout(() => finish(2, `timed out after ${timeoutMs} ms in mode ${opts.mode}`), timeoutMs);

const connectOptions = {
  protocolVersion: opts.protocolVersion || 4,
  clientId: opts.clientId || `mqttjs-${process.pid}-${Date.now()}`,
  clean: true,
  keepalive: 30,
  reconnectPeriod: 0, // one attempt: a refusal must surface, not be retried
  connectTimeout: Math.min(5000, timeoutMs),
};
if (connectOptions.protocolVersion === 3) connectOptions.protocolId = 'MQIsdp';
if (opts.ca) {
  connectOptions.ca = fs.readFileSync(opts.ca);
  connectOptions.rejectUnauthorized = true;
}

client = mqtt.connect(opts.url, connectOptions);
let connected = false;

client.on('error', (err) => {
  if (opts.mode === 'refused' && !connected) finish(0, `REFUSED ${err.message}`);
  else finish(1, `error: ${err.message}`);
});
client.on('close', () => {
  if (opts.mode === 'refused' && !connected) finish(0, 'REFUSED connection closed');
  else if (!finished) finish(1, 'connection closed unexpectedly');
});

client.on('connect', (connack) => {
  connected = true;
  if (opts.mode === 'refused') return finish(1, `connected although a refusal was expected: ${JSON.stringify(connack)}`);
  if (opts.mode === 'publish') {
    client.publish(topic, payload, { qos: 1 }, (err) => {
      if (err) finish(1, `publish failed: ${err.message}`);
      else finish(0, 'PUBLISHED');
    });
    return;
  }
  client.subscribe(topic, { qos: 1 }, (err, granted) => {
    if (err) return finish(1, `subscribe failed: ${err.message}`);
    if (!granted || granted.length !== 1 || granted[0].qos !== 1)
      return finish(1, `unexpected SUBACK: ${JSON.stringify(granted)}`);
    if (opts.mode === 'subscribe') {
      process.stdout.write('READY\n');
      return;
    }
    client.publish(topic, payload, { qos: 1 }, (perr) => {
      if (perr) finish(1, `publish failed: ${perr.message}`);
    });
  });
});

client.on('message', (t, message, packet) => {
  if (t !== topic) return finish(1, `message on unexpected topic ${t}`);
  if (opts.mode === 'subscribe') return finish(0, `MESSAGE ${packet.qos} ${message.toString()}`);
  if (message.toString() !== payload) return finish(1, `payload mismatch: ${message.toString()}`);
  if (packet.qos !== 1) return finish(1, `expected QoS 1, got ${packet.qos}`);
  finish(0, `ROUNDTRIP ok protocolVersion=${connectOptions.protocolVersion}`);
});
