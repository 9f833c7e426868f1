-- wrk script: sends DEPTH requests back to back on each connection before reading their
-- responses (HTTP/1.1 pipelining). Usage: wrk ... -s bench/wrk-pipeline.lua -- 16
-- wrk still counts every response, so Requests/sec is responses per second.
local depth = 16

init = function(args)
    depth = tonumber(args[1]) or depth
    local batch = {}
    for i = 1, depth do
        batch[i] = wrk.format(nil)
    end
    pipelined = table.concat(batch)
end

request = function()
    return pipelined
end
