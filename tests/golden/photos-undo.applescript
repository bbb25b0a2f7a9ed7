-- photoplug: remove photoplug's keywords and albums from Photos.
-- Run it on the Mac that holds the Photos library:  osascript photoplug.applescript
-- Written by photoplug from the export folder's plan; safe to run more than once.

global changedPhotos, changedAlbums, notFound

on run
	set changedPhotos to 0
	set changedAlbums to 0
	set notFound to 0
	set folderName to "photoplug"
	my removeKeywords({"", "IMG_0002.JPG", {2024, 6, 1, 45296}}, {"photoplug/beach"})
	my removeKeywords({"A1B2C3D4-0000-4000-8000-00000000000A/L0/001", "IMG_0001.HEIC", {}}, {"photoplug/beach", "photoplug/sunset"})
	my deleteAlbum(folderName, "beach selfies")
	my deleteAlbum(folderName, (character id 201) & "t" & (character id 233) & "s")
	my deleteFolderIfEmpty(folderName)
	return "photoplug: " & changedPhotos & " photos and " & changedAlbums & " albums changed, " & notFound & " photos not found in Photos"
end run

on findPhoto(photoSpec)
	-- by UUID when known; else the only photo with this file name, or the one taken then
	set itemId to item 1 of photoSpec
	set fname to item 2 of photoSpec
	set taken to item 3 of photoSpec
	tell application "Photos"
		if itemId is not "" then
			try
				set m to media item id itemId
				get id of m
				return m
			end try
		end if
		with timeout of 3600 seconds
			set candidates to (every media item whose filename is fname)
		end timeout
	end tell
	if (count of candidates) is 1 then return item 1 of candidates
	if taken is not {} then
		set wantedDate to my makeDate(taken)
		repeat with m in candidates
			tell application "Photos" to set d to date of m
			if d is not missing value then
				set diff to d - wantedDate
				if diff < 0 then set diff to -diff
				if diff < 2 then return contents of m
			end if
		end repeat
	end if
	set notFound to notFound + 1
	log "photoplug: not found in Photos: " & fname
	return missing value
end findPhoto

on makeDate(parts)
	set d to current date
	set day of d to 1
	set year of d to item 1 of parts
	set month of d to item 2 of parts
	set day of d to item 3 of parts
	set time of d to item 4 of parts
	return d
end makeDate

on removeKeywords(photoSpec, unwanted)
	set m to my findPhoto(photoSpec)
	if m is missing value then return
	tell application "Photos"
		set kws to keywords of m
		if kws is missing value then return
		set kept to {}
		repeat with k in kws
			if unwanted does not contain (contents of k) then set end of kept to (contents of k)
		end repeat
		if (count of kept) < (count of kws) then
			set keywords of m to kept
			set changedPhotos to changedPhotos + 1
		end if
	end tell
end removeKeywords

on deleteAlbum(folderName, albumName)
	tell application "Photos"
		if exists folder folderName then
			if exists album albumName of folder folderName then
				delete album albumName of folder folderName
				set changedAlbums to changedAlbums + 1
			end if
		end if
	end tell
end deleteAlbum

on deleteFolderIfEmpty(folderName)
	tell application "Photos"
		if exists folder folderName then
			if (count of albums of folder folderName) is 0 and (count of folders of folder folderName) is 0 then delete folder folderName
		end if
	end tell
end deleteFolderIfEmpty
