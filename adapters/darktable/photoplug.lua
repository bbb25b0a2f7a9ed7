--[[ photoplug for darktable: find photos by what they show, from the lighttable.

  Installed by `photoplug darktable install` (which adds `require "photoplug"` to luarc).
  A lighttable module with a query box ("beach at sunset"), "more like this" for the
  selected photo, "sync smart albums" and "find duplicates". It runs the photoplug
  command line on this library (darktable:LIBRARY), attaches the good matches
  (photoplug's per-photo rule: the query describes the photo about as well as anything in
  the vocabulary does) as the tag
  photoplug|search|QUERY (or the album tags photoplug|albums|NAME) through darktable's
  own API, and shows that tag as the collection; with no good match the collection stays
  as it was. darktable 4.2's Lua API cannot order a collection by a value of photoplug's
  (no image field it may write sorts the lighttable without touching the user's own
  metadata), so the lighttable keeps the user's sort, and the module lists the matches
  best first and selects the best one. Only the last few searches keep their tags: older
  photoplug|search|… tags the module made are deleted (albums and keywords stay).

  "find duplicates" runs `photoplug duplicates --write`: each group of near-identical
  photos gets the tag photoplug|tags|duplicates|group-…, all groups become the collection
  with the copies to keep selected, and "show" steps through the groups one by one.

  Right after an import (option "index and tag new imports", on by default) the module
  indexes the new photos and gives them photoplug's keywords and smart albums: the
  images of one import are collected (post-import-image) until it ends (post-import-film,
  or a moment without new images) and handled by one photoplug run, in the background.

  Preferences (lua options): the photoplug executable, how many results a search keeps at
  most, whether weaker matches are shown too, how many searches keep their tags, and
  whether new imports are indexed and tagged.

  Every argument reaches the shell quoted: strict single quotes on Linux and macOS; on
  Windows double quotes, refusing text with a quote or a percent sign (cmd.exe cannot
  take those inside quotes safely).
]]
local dt = require "darktable"

local M = {}
local MODULE = "photoplug"
local DEFAULT_EXECUTABLE = "photoplug" -- `photoplug darktable install` writes its own path here
local SEARCH = "photoplug|search|"
local WINDOWS = dt.configuration.running_os == "windows"
local SEP = WINDOWS and "\\" or "/"

if dt.configuration.api_version_major < 7 then
  dt.print_error("photoplug needs darktable's Lua API 7 or newer")
  return M
end

local function _(text)
  return dt.gettext.gettext(text)
end

dt.preferences.register(MODULE, "executable", "string", _("photoplug: executable"),
  _("the photoplug command (its full path where it is not on the PATH)"), DEFAULT_EXECUTABLE)
dt.preferences.register(MODULE, "top", "integer", _("photoplug: results per search"),
  _("how many photos a search keeps at most, best first"), 50, 1, 1000)
dt.preferences.register(MODULE, "weaker", "bool", _("photoplug: show weaker matches too"),
  _("also keep the photos past the line of good matches, still best first"), false)
dt.preferences.register(MODULE, "searches", "integer", _("photoplug: searches kept"),
  _("how many of the latest searches keep their tags photoplug|search|…; older ones are "
    .. "deleted (smart albums and keywords are not)"), 10, 1, 1000)
dt.preferences.register(MODULE, "on_import", "bool", _("photoplug: index and tag new imports"),
  _("right after an import, index the new photos and give them photoplug's keywords and "
    .. "smart albums"), true)
local RANKED = 10 -- matches the module lists by name, best first

-- JSON (photoplug's --json output and handoff file) -----------------------------------

local ESCAPES = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                 r = "\r", t = "\t"}

local function decode_json(text)
  local pos = 1
  local value

  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end

  local function expect(char)
    skip()
    if text:sub(pos, pos) ~= char then error("expected " .. char .. " at " .. pos) end
    pos = pos + 1
  end

  local function hex4(at)
    local digits = text:sub(at, at + 3)
    return digits:match("^%x%x%x%x$") and tonumber(digits, 16) or error("bad \\u escape")
  end

  local function str()
    expect('"')
    local parts = {}
    while true do
      local at = text:find('["\\]', pos) or error("unterminated string")
      parts[#parts + 1] = text:sub(pos, at - 1)
      if text:sub(at, at) == '"' then
        pos = at + 1
        return table.concat(parts)
      end
      local kind = text:sub(at + 1, at + 1)
      if kind == "u" then
        local code = hex4(at + 2)
        pos = at + 6
        if code >= 0xD800 and code < 0xDC00 and text:sub(pos, pos + 1) == "\\u" then
          code = 0x10000 + (code - 0xD800) * 0x400 + (hex4(pos + 2) - 0xDC00)
          pos = pos + 6
        end
        parts[#parts + 1] = utf8.char(code)
      else
        parts[#parts + 1] = ESCAPES[kind] or error("bad escape \\" .. kind)
        pos = at + 2
      end
    end
  end

  local function list(close, item)
    skip()
    if text:sub(pos, pos) == close then
      pos = pos + 1
      return
    end
    repeat
      item()
      skip()
      local sep = text:sub(pos, pos)
      pos = pos + 1
    until sep ~= ","
    if text:sub(pos - 1, pos - 1) ~= close then error("expected " .. close) end
  end

  function value()
    skip()
    local char = text:sub(pos, pos)
    if char == "{" then
      local object = {}
      pos = pos + 1
      list("}", function()
        local key = str()
        expect(":")
        object[key] = value()
      end)
      return object
    elseif char == "[" then
      local array = {}
      pos = pos + 1
      list("]", function() array[#array + 1] = value() end)
      return array
    elseif char == '"' then
      return str()
    end
    local number = text:match("^-?%d[%d.eE+-]*", pos)
    if number then
      pos = pos + #number
      return tonumber(number)
    end
    for word, result in pairs({["true"] = true, ["false"] = false, null = false}) do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        return result
      end
    end
    error("unexpected " .. (char == "" and "end" or char) .. " at " .. pos)
  end

  local ok, result = pcall(function()
    local parsed = value()
    skip()
    if pos <= #text then error("trailing text at " .. pos) end
    return parsed
  end)
  if not ok then return nil, tostring(result) end
  return result
end
M.decode_json = decode_json

-- running photoplug ------------------------------------------------------------------

-- One argument as the shell reads it back unchanged, or nil and why not.
local function quote(arg)
  arg = tostring(arg)
  if arg:find("\0", 1, true) then return nil, _("text with a NUL character") end
  if WINDOWS then
    if arg:find('["%%\r\n]') then
      return nil, _("on Windows, text with a quote, % or a line break")
    end
    return '"' .. arg .. '"'
  end
  return "'" .. arg:gsub("'", [['\'']]) .. "'"
end
M.quote = quote

local function temp_name()
  local name = os.tmpname()
  if WINDOWS then name = (os.getenv("TEMP") or dt.configuration.tmp_dir) .. name end
  return name
end

local function read_file(path)
  local file = io.open(path, "rb")
  if not file then return nil end
  local text = file:read("a")
  file:close()
  return text
end

-- darktable's own library: its --library where the system shows the command line, else
-- library.db in its config folder.
local function library_path()
  local cmdline = read_file("/proc/self/cmdline")
  local args = {}
  for arg in (cmdline or ""):gmatch("([^\0]*)\0") do args[#args + 1] = arg end
  for i, arg in ipairs(args) do
    if arg == "--library" and args[i + 1] then
      local path = args[i + 1]
      if path == ":memory:" then return nil end
      if path:sub(1, 1) ~= "/" then path = (os.getenv("PWD") or ".") .. "/" .. path end
      return path
    end
  end
  return dt.configuration.config_dir .. SEP .. "library.db"
end

local function error_line(stderr)
  local last
  for line in (stderr or ""):gmatch("[^\r\n]+") do
    local message = line:match("^photoplug: error: (.*)")
    if message then return message end
    if line:match("%S") then last = line end
  end
  return last
end

-- photoplug ARGS: its stdout, or nil and a one-line reason.
local function photoplug(args)
  local executable = dt.preferences.read(MODULE, "executable", "string")
  if executable == "" then executable = DEFAULT_EXECUTABLE end
  local words = {}
  for _i, arg in ipairs({executable, table.unpack(args)}) do
    local quoted, why = quote(arg)
    if not quoted then return nil, string.format(_("cannot pass %s to photoplug"), why) end
    words[#words + 1] = quoted
  end
  local out, err = temp_name(), temp_name()
  local command = table.concat(words, " ") .. " >" .. quote(out) .. " 2>" .. quote(err)
  if WINDOWS then command = '"' .. command .. '"' end -- cmd.exe strips one pair
  local status = dt.control.execute(command)
  local stdout, stderr = read_file(out), read_file(err)
  os.remove(out)
  os.remove(err)
  if status == 0 then return stdout or "" end
  if not WINDOWS and status == 127 * 256 then
    return nil, string.format(_("%s not found: set its path in preferences > lua options"),
                              executable)
  end
  return nil, error_line(stderr) or string.format(_("photoplug failed (%d)"), status)
end

-- state shown in the module ----------------------------------------------------------

local widgets = {}
M.widgets = widgets -- the module's widgets, for a script that drives it
M.message = ""

local function say(text, failed)
  M.message = text
  if widgets.status then widgets.status.label = text end
  dt.print(MODULE .. ": " .. text)
  if failed then dt.print_error(MODULE .. ": " .. text) end
end

-- photoplug's file about LIBRARY with this SUFFIX, in .photoplug/ beside it; its folder.
local function beside(library, suffix)
  local folder = library:match("^(.*)[/\\]") .. SEP .. ".photoplug"
  return folder .. SEP .. library:match("[^/\\]+$") .. suffix, folder
end

-- That file opened in MODE ("a", "w"), its folder made where it is missing; or nil.
local function open_beside(library, suffix, mode)
  local path, folder = beside(library, suffix)
  local file = io.open(path, mode)
  if not file then
    dt.control.execute((WINDOWS and "mkdir " or "mkdir -p ") .. quote(folder))
    file = io.open(path, mode)
  end
  return file
end

-- photoplug remembers which tags it (and this module) made, so `photoplug undo` removes
-- exactly those: one name a line, beside the library.
local function record_created(library, name)
  local file = open_beside(library, ".tags", "a")
  if not file then return false end
  file:write(name .. "\n")
  file:close()
  return true
end

local function tag_named(library, name)
  local tag = dt.tags.find(name)
  if tag then return tag end
  if not record_created(library, name) then return nil end
  return dt.tags.create(name)
end

local function show_tag(name)
  local rule = dt.gui.libs.collect.new_rule()
  rule.mode = "DT_LIB_COLLECT_MODE_AND"
  rule.item = "DT_COLLECTION_PROP_TAG"
  rule.data = name
  dt.gui.libs.collect.filter({rule})
end

-- Make exactly the images with these ids carry the tag NAME.
local function tag_exactly(library, name, ids)
  local tag = tag_named(library, name)
  if not tag then return nil end
  local wanted = {}
  for _i, id in ipairs(ids) do wanted[id] = true end
  for _i, image in ipairs(dt.tags.get_tagged_images(tag)) do
    if wanted[image.id] then wanted[image.id] = nil else dt.tags.detach(tag, image) end
  end
  local count = #ids
  for id in pairs(wanted) do
    local image = dt.database.get_image(id)
    if image then dt.tags.attach(tag, image) else count = count - 1 end
  end
  return count
end

-- Only the latest searches keep their tags. NAME is the newest; the latest are listed
-- beside the library (.photoplug/LIBRARY.searches, newest last). The module's other
-- photoplug|search|… tags (those in the list of tags photoplug made: never the user's)
-- are deleted.
local function keep_latest_searches(library, name)
  local latest = {}
  for line in (read_file((beside(library, ".searches"))) or ""):gmatch("[^\r\n]+") do
    if line ~= name then latest[#latest + 1] = line end
  end
  latest[#latest + 1] = name
  local keep = math.max(1, dt.preferences.read(MODULE, "searches", "integer"))
  latest = {table.unpack(latest, math.max(1, #latest - keep + 1))}
  local kept = {}
  for _i, search in ipairs(latest) do kept[search] = true end
  for made in (read_file((beside(library, ".tags"))) or ""):gmatch("[^\r\n]+") do
    local tag = made:sub(1, #SEARCH) == SEARCH and not kept[made] and dt.tags.find(made)
    if tag then dt.tags.delete(tag) end
  end
  local file = open_beside(library, ".searches.tmp", "w")
  if file then
    file:write(table.concat(latest, "\n") .. "\n")
    file:close()
    os.rename((beside(library, ".searches.tmp")), (beside(library, ".searches")))
  end
end

-- photoplug ARGS, writing through darktable: the links photoplug decides come back in a
-- handoff file and are made here, so darktable shows them at once. Its stdout and how
-- many links changed, or nil and why not.
local function write_through(args)
  local handoff = temp_name()
  os.remove(handoff)
  local words = {table.unpack(args)}
  words[#words + 1] = "--handoff"
  words[#words + 1] = handoff
  local out, why = photoplug(words)
  local changes = read_file(handoff)
  os.remove(handoff)
  if not out then return nil, why end
  local ops = changes and decode_json(changes) or {}
  local made = 0
  for name, ids in pairs(ops.detach or {}) do
    local tag = dt.tags.find(name)
    for _i, id in ipairs(tag and ids or {}) do
      local image = dt.database.get_image(id)
      if image then dt.tags.detach(tag, image); made = made + 1 end
    end
  end
  for name, ids in pairs(ops.attach or {}) do
    local tag = dt.tags.find(name) or dt.tags.create(name) -- photoplug recorded it
    for _i, id in ipairs(ids) do
      local image = dt.database.get_image(id)
      if image then dt.tags.attach(tag, image); made = made + 1 end
    end
  end
  return out, made
end

local busy = false
local imports = {ids = {}, ended = false, waiting = false} -- images of an import, not yet run

-- Run FN(library, location) once at a time, as a background job, errors shown.
local function job(title, fn)
  if busy then
    say(_("still working on the last request"))
    return false
  end
  local library = library_path()
  if not library then
    say(_("darktable runs on a library in memory: there is nothing to search"), true)
    return false
  end
  busy = true
  local progress = dt.gui.create_job(title)
  local ok, result = pcall(fn, library, "darktable:" .. library)
  progress.valid = false
  busy = false
  if not ok then say(tostring(result), true) end
  if #imports.ids > 0 and not imports.waiting then -- an import ended meanwhile
    dt.control.dispatch(M.run_imports)
  end
  return ok and result
end

local function base_name(path)
  return (path or ""):match("[^/\\]+$") or ""
end

local function ranked_list(results)
  local lines = {}
  for i, result in ipairs(results) do
    if i > RANKED then
      lines[#lines + 1] = string.format(_("… and %d more"), #results - RANKED)
      break
    end
    lines[#lines + 1] = string.format("%d. %.2f %s", i, result.score, base_name(result.path))
  end
  return table.concat(lines, "\n")
end

local function search_tag(library, location, query, name)
  local indexed, why = photoplug({"index", location})
  if not indexed then return say(why, true) end
  local top = tostring(dt.preferences.read(MODULE, "top", "integer"))
  local weaker = dt.preferences.read(MODULE, "weaker", "bool")
  local args = {"search", "--json", "--all-frames", "--top", top}
  if not weaker then args[#args + 1] = "--good-only" end
  for _i, arg in ipairs({"--", query, location}) do args[#args + 1] = arg end
  local out
  out, why = photoplug(args)
  if not out then return say(why, true) end
  local results, bad = decode_json(out)
  if not results then return say(_("unreadable answer from photoplug: ") .. bad, true) end
  M.ranked = results
  if widgets.ranked then widgets.ranked.label = ranked_list(results) end
  local good = 0
  for _i, result in ipairs(results) do
    if result.match == "good" then good = good + 1 end
  end
  if #results == 0 or (good == 0 and not weaker) then
    say(string.format(_("no good match for %s: the collection is unchanged"),
                      (query:gsub("%c", " "))))
    return 0
  end
  local ids = {}
  for _i, result in ipairs(results) do ids[#ids + 1] = tonumber(result.id) end
  local count = tag_exactly(library, name, ids)
  if not count then return say(_("cannot record photoplug's tags beside the library"), true) end
  keep_latest_searches(library, name)
  show_tag(name)
  local best = dt.database.get_image(ids[1])
  if best then dt.gui.selection({best}) end
  local shown = weaker and string.format(_(", %d weaker"), #results - good) or ""
  say(string.format(_("%d good matches%s (best %.2f): %s"), good, shown, results[1].score,
                    name))
  return count
end

-- photoplug|search|TEXT, one level and one line, cut to what darktable's Lua API takes
-- (as photoplug names its own tags).
local function search_tag_name(text)
  local name = SEARCH .. text:gsub("|", "¦"):gsub("%c", " ")
  if #name <= 255 then return name end
  local cut = 255 - #"…"
  while (name:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return name:sub(1, cut) .. "…"
end

-- Search for QUERY; the results become the tag photoplug|search|QUERY and the collection.
function M.search(query)
  query = (query or ""):match("^%s*(.-)%s*$")
  if query == "" then return say(_("type what to look for, such as beach at sunset")) end
  widgets.query.text = query
  return job(_("photoplug: searching"), function(library, location)
    return search_tag(library, location, query, search_tag_name(query))
  end)
end

-- Photos like IMAGE (the selected one by default).
function M.more_like_this(image)
  image = image or dt.gui.selection()[1]
  if not image then return say(_("select a photo first")) end
  return job(_("photoplug: more like this"), function(library, location)
    local path = image.path .. SEP .. image.filename
    return search_tag(library, location, path, search_tag_name("like " .. image.filename))
  end)
end

-- photoplug albums sync: the changes it decides come back in a handoff file and are made here.
function M.sync_albums()
  return job(_("photoplug: syncing smart albums"), function(library, location)
    local indexed, why = photoplug({"index", location})
    if not indexed then return say(why, true) end
    local out, made = write_through({"albums", "sync", location, "--json"})
    if not out then return say(made, true) end
    local albums = decode_json(out) or {}
    show_tag("photoplug|albums|%")
    say(string.format(_("%d albums synced, %d changes"), #albums, made))
    return made
  end)
end

-- duplicates -------------------------------------------------------------------------------

local DUPLICATES = "photoplug|tags|duplicates|"
M.groups = {} -- the last run's groups, as `photoplug duplicates --json` gives them

local function group_name(group) -- group-HASH, from the keyword duplicates/group-HASH
  return group.group:match("[^/]+$")
end

local function keep_of(group)
  for _i, member in ipairs(group.members) do
    if member.keep then return member end
  end
end

-- Show group N of the last run (0: all of them) as the collection, its copy to keep
-- selected and the reason said.
function M.show_group(n)
  local groups = M.groups
  if #groups == 0 then return say(_("no duplicates found yet: press find duplicates")) end
  local chosen = n and n > 0 and groups[n]
  local keeps = {}
  for _i, group in ipairs(chosen and {chosen} or groups) do
    local image = dt.database.get_image(tonumber(keep_of(group).id))
    if image then keeps[#keeps + 1] = image end
  end
  show_tag(DUPLICATES .. (chosen and group_name(chosen) or "%"))
  dt.gui.selection(keeps)
  if chosen then
    local keep = keep_of(chosen)
    say(string.format(_("%d photos of one shot; keep %s: %s"), #chosen.members,
                      base_name(keep.path), chosen.reason))
  else
    local copies = 0
    for _i, group in ipairs(groups) do copies = copies + #group.members - 1 end
    if #groups == 1 then
      say(string.format(_("1 group of near-identical photos, %d copies besides the one to "
                          .. "keep (selected)"), copies))
    else
      say(string.format(_("%d groups of near-identical photos, %d copies besides the ones "
                          .. "to keep (selected)"), #groups, copies))
    end
  end
  return chosen and #chosen.members or #groups
end

local function list_groups(groups)
  local choice, lines = widgets.groups, {}
  for i = #choice, 1, -1 do choice[i] = nil end
  choice[1] = #groups == 1 and _("the one group") or string.format(_("all %d groups"), #groups)
  for i, group in ipairs(groups) do
    local line = string.format(_("%s: keep %s + %d"), group_name(group),
                               base_name(keep_of(group).path), #group.members - 1)
    choice[i + 1] = line
    if i <= RANKED then lines[#lines + 1] = line end
  end
  if #groups > RANKED then
    lines[#lines + 1] = string.format(_("… and %d more"), #groups - RANKED)
  end
  choice.selected = 1
  widgets.ranked.label = table.concat(lines, "\n")
end

-- photoplug duplicates --write: each group becomes the tag photoplug|tags|duplicates|group-…
-- (the copy to keep also …|suggested-keep), made through darktable; all are shown, the
-- copies to keep selected, and "show" steps through the groups one by one.
function M.find_duplicates()
  return job(_("photoplug: finding duplicates"), function(_library, location)
    local indexed, why = photoplug({"index", location})
    if not indexed then return say(why, true) end
    local out, made = write_through({"duplicates", location, "--write", "--json"})
    if not out then return say(made, true) end
    local groups, bad = decode_json(out)
    if not groups then return say(_("unreadable answer from photoplug: ") .. bad, true) end
    M.groups = groups
    list_groups(groups)
    if #groups == 0 then
      return say(_("no near-identical photos among the indexed ones: the collection is "
                   .. "unchanged")) or 0
    end
    return M.show_group(0)
  end)
end

-- new imports ----------------------------------------------------------------------------

local NO_FILM_EVENT_MS = 2000 -- an import without post-import-film: done after this quiet

-- The new images: indexed, then photoplug's keywords and (where the user has an albums
-- file) smart albums, the whole library's brought up to date as `photoplug tag` and
-- `albums sync` do, made through darktable.
local function index_and_tag(location, count)
  local indexed, why = photoplug({"index", location})
  if not indexed then return say(why, true) end
  local out, keywords = write_through({"tag", location})
  if not out then return say(keywords, true) end
  local albums
  out, albums = write_through({"albums", "sync", location})
  if not out then
    if not albums:match("^no albums file at ") then return say(albums, true) end
    albums = 0
  end
  say(string.format(_("new photos indexed: %d (%d keyword and %d album changes)"), count,
                    keywords, albums))
  return keywords + albums
end

-- Run photoplug once on the images imported so far (later ones wait for the next run).
function M.run_imports()
  if busy or #imports.ids == 0 then return end -- the job running now starts it when done
  local count = #imports.ids
  imports.ids, imports.ended = {}, false
  return job(_("photoplug: indexing new imports"), function(_library, location)
    return index_and_tag(location, count)
  end)
end

-- Wait (in the background) for the import to end, then run photoplug on it.
local function after_import()
  local seen, quiet = -1, 0
  while not imports.ended and quiet < NO_FILM_EVENT_MS and not dt.control.ending do
    dt.control.sleep(250)
    if #imports.ids == seen then quiet = quiet + 250 else seen, quiet = #imports.ids, 0 end
  end
  imports.waiting = false
  if not dt.control.ending then M.run_imports() end
end

dt.register_event(MODULE, "post-import-image", function(_event, image)
  if not dt.preferences.read(MODULE, "on_import", "bool") then return end
  imports.ids[#imports.ids + 1] = image.id
  if not imports.waiting then
    imports.waiting, imports.ended = true, false
    dt.control.dispatch(after_import)
  end
end)

dt.register_event(MODULE, "post-import-film", function()
  imports.ended = true
end)

-- the lighttable module ----------------------------------------------------------------

widgets.query = dt.new_widget("entry") {
  placeholder = _("beach at sunset"),
  tooltip = _("describe the photos you are looking for"),
  editable = true,
}
widgets.status = dt.new_widget("label") {label = ""}
widgets.ranked = dt.new_widget("label") {label = "", halign = "start"}
widgets.weaker = dt.new_widget("check_button") {
  label = _("show weaker matches too"),
  value = dt.preferences.read(MODULE, "weaker", "bool"),
  clicked_callback = function(self) dt.preferences.write(MODULE, "weaker", "bool", self.value) end,
}
widgets.groups = dt.new_widget("combobox") {
  label = _("show"),
  tooltip = _("the groups the last find duplicates made: all of them, or one at a time"),
  changed_callback = function(self) M.show_group(self.selected - 1) end,
}
widgets.on_import = dt.new_widget("check_button") {
  label = _("index and tag new imports"),
  tooltip = _("right after an import, index the new photos and give them photoplug's "
              .. "keywords and smart albums"),
  value = dt.preferences.read(MODULE, "on_import", "bool"),
  clicked_callback = function(self)
    dt.preferences.write(MODULE, "on_import", "bool", self.value)
  end,
}

local function install_module()
  if M.installed then return end
  dt.register_lib(MODULE, "photoplug", true, false,
    {[dt.gui.views.lighttable] = {"DT_UI_CONTAINER_PANEL_RIGHT_CENTER", 100}},
    dt.new_widget("box") {
      orientation = "vertical",
      widgets.query,
      dt.new_widget("button") {
        label = _("search"),
        tooltip = _("tag the good matches photoplug|search|… and show them"),
        clicked_callback = function() M.search(widgets.query.text) end,
      },
      widgets.weaker,
      widgets.status,
      widgets.ranked,
      dt.new_widget("button") {
        label = _("more like this"),
        tooltip = _("photos that look like the selected one"),
        clicked_callback = function() M.more_like_this() end,
      },
      dt.new_widget("button") {
        label = _("sync smart albums"),
        tooltip = _("fill photoplug's albums (photoplug|albums|…), keeping your corrections"),
        clicked_callback = function() M.sync_albums() end,
      },
      dt.new_widget("button") {
        label = _("find duplicates"),
        tooltip = _("group near-identical photos (photoplug|tags|duplicates|…), show them "
                    .. "and select the copy to keep of each"),
        clicked_callback = function() M.find_duplicates() end,
      },
      widgets.groups,
      widgets.on_import,
    },
    nil, nil)
  M.installed = true
end

if dt.gui.current_view().id == "lighttable" then
  install_module()
else
  dt.register_event(MODULE, "view-changed", function(_, _, new_view)
    if new_view.id == "lighttable" then install_module() end
  end)
end

return M
